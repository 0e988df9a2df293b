def log_message(text):
    print(text)


def flush_log_buffer():
    pass
