from logging_util import log_message, flush_log_buffer


def beta_step():
    log_message("beta")
    log_message("beta again")
    flush_log_buffer()
