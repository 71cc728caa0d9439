"""SpliCER tutorial: simplicity bias in self-supervised learning, and the SpliCER remedy.

The package behind the book. One module per idea:

=================  ==========================================================
``config``         the fast/full mode switch and the device
``files``          files written whole or not at all (results, checkpoints, data)
``distributed``    training on several processes with torchrun: gathered negatives
``datasets``       MNIST and CIFAR-10: shipped files, downloads, checksums
``dominoes``       MNIST-CIFAR dominoes and their randomised variants
``chunks``         chunk geometry: how a length is cut into K parts, in one place
``deconstruct``    split images into components (sections, channels, masks)
``augment``        batched augmentation on the device, with or without shared geometry
``models``         ResNet-18, a small ConvNet, projectors
``losses``         SimCLR, VICReg, SpliCER and its variants
``training``       ``pretrain``: one loop for every method and variant
``randbits``       RandBits: MNIST with constant bit channels (Chen et al. 2021)
``factorsets``     multi-channel sets with known factors: their container and description
``channels``       the run the multi-channel sets share, their registry, chunk allocation
``channel_toy``    four channels, one factor each: code, digit, fashion item, object
``multiplex``      synthetic multiplex immunofluorescence cells with known types
``multispectral``  synthetic 13-band satellite tiles; the EuroSAT-MS loader
``histology``      synthetic H&E tiles with nuclei masks; a classical nuclei segmenter
``masks``          mask quality: noise operators for segmentation masks, and IoU
``owndata``        your own images: a folder of TIFF files or an .npz, as a data set
``probes``         linear and kNN probes on frozen features
``supervised``     supervised classifiers: simplicity bias with labels
``plots``          the figures of the book
``experiments``    the dominoes run, its references and probes; the scale study
``runs``           the run path: one ``run(dataset, config, ...)`` for every data set
``results``        result files with provenance; seeds, standard errors, comparisons
``sweep``          many runs from a plan: skipping, jobs, a time budget
``plans``          the named plans of the sweep (fast, full, the CPU scale study, ...)
``bench``          images per second of augmentation and training steps
=================  ==========================================================

Chapters import it as ``import splicer_tutorial as st``.
"""

from . import (
    augment,
    bench,
    channel_toy,
    channels,
    chunks,
    config,
    datasets,
    deconstruct,
    distributed,
    dominoes,
    experiments,
    factorsets,
    files,
    histology,
    losses,
    masks,
    models,
    multiplex,
    multispectral,
    owndata,
    plans,
    plots,
    probes,
    randbits,
    results,
    runs,
    supervised,
    sweep,
    training,
)
from .config import mode
from .runs import run
from .training import TrainConfig, pretrain

__version__ = "0.1.0"

__all__ = [
    "augment",
    "bench",
    "channel_toy",
    "channels",
    "chunks",
    "config",
    "datasets",
    "deconstruct",
    "dominoes",
    "experiments",
    "factorsets",
    "files",
    "histology",
    "losses",
    "masks",
    "models",
    "multiplex",
    "multispectral",
    "plans",
    "plots",
    "probes",
    "randbits",
    "results",
    "runs",
    "run",
    "supervised",
    "sweep",
    "training",
    "mode",
    "TrainConfig",
    "pretrain",
]
