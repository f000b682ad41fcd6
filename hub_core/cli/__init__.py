"""The click commands: parse, call the stages below, print. No logic of their own.

May import every stage.
"""
