"""Recall: understanding questions and answering them from the memory."""
