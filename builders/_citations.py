"""BibTeX entries the dataset cards cite."""

ARENA = """@inproceedings{papa2024train,
  title     = {How to Train Neural Field Representations: A Comprehensive Study and Benchmark},
  author    = {Papa, Samuele and Valperga, Riccardo and Knigge, David and Kofinas, Miltiadis and
               Lippe, Phillip and Sonke, Jan-Jakob and Gavves, Efstratios},
  booktitle = {CVPR},
  year      = {2024},
  note      = {arXiv:2312.10531}
}"""

MNIST = """@article{lecun1998mnist,
  title   = {Gradient-based learning applied to document recognition},
  author  = {LeCun, Yann and Bottou, L{\\'e}on and Bengio, Yoshua and Haffner, Patrick},
  journal = {Proceedings of the IEEE}, year = {1998}
}"""

CIFAR = """@techreport{krizhevsky2009learning,
  title  = {Learning Multiple Layers of Features from Tiny Images},
  author = {Krizhevsky, Alex}, institution = {University of Toronto}, year = {2009}
}"""

IMAGENET = """@inproceedings{deng2009imagenet,
  title     = {ImageNet: A large-scale hierarchical image database},
  author    = {Deng, Jia and Dong, Wei and Socher, Richard and Li, Li-Jia and Li, Kai and Fei-Fei, Li},
  booktitle = {CVPR}, year = {2009}
}"""

SHAPENET = """@techreport{chang2015shapenet,
  title  = {ShapeNet: An Information-Rich 3D Model Repository},
  author = {Chang, Angel X. and others}, institution = {arXiv:1512.03012}, year = {2015}
}"""

MODELNET = """@inproceedings{wu2015modelnet,
  title     = {3D ShapeNets: A Deep Representation for Volumetric Shapes},
  author    = {Wu, Zhirong and Song, Shuran and Khosla, Aditya and Yu, Fisher and Zhang, Linguang and
               Tang, Xiaoou and Xiao, Jianxiong},
  booktitle = {CVPR}, year = {2015}
}"""

DIGITS = """@misc{alpaydin1998digits,
  title  = {Optical Recognition of Handwritten Digits},
  author = {Alpaydin, E. and Kaynak, C.}, howpublished = {UCI Machine Learning Repository}, year = {1998}
}"""


def cite(*entries: str) -> str:
    return "\n".join((ARENA, *entries))
