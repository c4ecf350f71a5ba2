"""Validate's rules, one module per family (see :data:`babyctl.validate.finding.RULES`)."""
