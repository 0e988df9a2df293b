from logging_util import log_message, flush_log_buffer


def alpha_step():
    log_message("alpha")
    log_message("alpha again")
    flush_log_buffer()
