"""placeholder"""
def gradient_l1(*a, **k):
    raise NotImplementedError
def gradient_psnr(*a, **k):
    raise NotImplementedError
