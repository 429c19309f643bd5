"""The customer: its model, rules, filters, order, cursors and pages (all SQL)."""
