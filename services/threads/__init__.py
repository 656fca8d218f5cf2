"""Chatbot threads: conversations, their messages, memory and per-thread turn order."""
