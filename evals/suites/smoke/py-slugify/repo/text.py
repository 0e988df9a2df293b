def slugify(s):
    return "-".join(s.strip().lower().split(" "))
