def parse_config_file(path):
    with open(path) as f:
        return dict(line.split("=", 1) for line in f)
