def render_report_table(rows):
    return "\n".join(f"{k}: {v}" for k, v in rows.items())
