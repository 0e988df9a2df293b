from logging_util import log_message, flush_log_buffer


def delta_step():
    log_message("delta")
    log_message("delta again")
    flush_log_buffer()
