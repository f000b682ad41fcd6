"""A plugin that raises a bare BaseException at import, and another one in a hook."""
raise BaseException("not even an Exception")
