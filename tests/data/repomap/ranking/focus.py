from config_loader import parse_config_file
from report import render_report_table


def build_report(path):
    config = parse_config_file(path)
    return render_report_table(config)
