"""Pure lowering: Project -> RenderPlan (files to write, template contexts)."""
