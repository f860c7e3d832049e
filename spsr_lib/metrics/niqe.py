"""placeholder"""
def niqe(*a, **k):
    raise NotImplementedError
