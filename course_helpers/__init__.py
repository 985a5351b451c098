__version__ = "0.0.1"

import warnings
# fastai 2.8.7 decorates a few layers with `torch.jit.script`, which torch 2.14 deprecates with a FutureWarning
# on every import of fastai: noise a learner cannot act on. Imported before fastai, this hides that one message.
warnings.filterwarnings('ignore', message=r'`torch\.jit\.script` is deprecated', category=FutureWarning)
