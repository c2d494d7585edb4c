"""The one IR: typed, frozen specs with their spans, and THE table of kinds."""
