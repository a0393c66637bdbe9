"""Datasets shipped inside the package, so a sweep runs with no download.

``mnist_mini.npz``: MNIST by Yann LeCun, Corinna Cortes and Christopher J.C. Burges,
CC BY-SA 3.0; subset: first 10k train / 2k test images. Built by
``python -m trainer.datasets._build_mnist_mini SRC`` (see README.md here).
"""
