from logging_util import log_message, flush_log_buffer


def gamma_step():
    log_message("gamma")
    log_message("gamma again")
    flush_log_buffer()
