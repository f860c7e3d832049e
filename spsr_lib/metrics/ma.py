"""placeholder"""
def ma_score(*a, **k):
    raise NotImplementedError
def perceptual_index(*a, **k):
    raise NotImplementedError
