"""Tests of splicer_tutorial.training: the pretraining loop, its history and checkpoints.

Every run here is tiny: 128 synthetic 3x16x8 images (a top and a bottom half drawn from
separate prototypes, as in a domino), a ConvNet of width 4-8, batch 32, 1-4 epochs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from splicer_tutorial import training
from splicer_tutorial.training import History, TrainConfig, build, load_checkpoint, pretrain

TINY = {"width": 4, "proj_dim": 16, "hidden_dim": 32, "batch_size": 32, "lr": 1e-2, "temperature": 0.5}


def domino_like(n: int = 128, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """uint8 images (n, 3, 16, 8): top half one of 4 prototypes (factor a), bottom half one of
    4 others (factor b), plus noise."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randint(0, 4, (n,), generator=g)
    b = torch.randint(0, 4, (n,), generator=g)
    prototypes = torch.rand(8, 3, 8, 8, generator=g)
    images = torch.cat([prototypes[a], prototypes[4 + b]], dim=2) * 255
    images = images + 20 * torch.randn(images.shape, generator=g)
    return images.clamp(0, 255).to(torch.uint8), a, b


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return domino_like()


def config(**overrides) -> TrainConfig:
    return TrainConfig(**{**TINY, "epochs": 1, **overrides})


# ------------------------------------------------------------------ TrainConfig


def test_config_defaults_and_components() -> None:
    cfg = TrainConfig(sections=[2, 2], crop_scale=[0.5, 1.0])
    assert cfg.sections == (2, 2) and cfg.crop_scale == (0.5, 1.0)
    assert cfg.num_components == 4
    assert TrainConfig().num_components == 2
    d = cfg.to_dict()
    assert d["method"] == "simclr" and d["variant"] == "baseline" and d["sections"] == (2, 2)


def test_config_bad_variant_is_named() -> None:
    with pytest.raises(ValueError, match=r"^variant is 'splice'; use one of"):
        TrainConfig(variant="splice")


@pytest.mark.parametrize("field, value, pattern", [
    ("epochs", 0, r"^epochs must be >= 1, got 0"),
    ("batch_size", 0, r"^batch_size must be >= 1, got 0"),
    ("batch_size", 1, r"batch_size must be at least 2"),
])
def test_config_bad_sizes(field: str, value: int, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        TrainConfig(**{field: value})


@pytest.mark.parametrize("variant, component_dim", [
    ("baseline", None), ("splicer", 8), ("sigma_je", 16), ("average", 16),
])
def test_build_sizes_the_component_projector(variant: str, component_dim) -> None:
    model, loss = build(config(variant=variant), in_channels=5)
    assert model.projector[-1].out_features == 16
    if component_dim is None:
        assert model.component_projector is None
    else:
        assert model.component_projector[-1].out_features == component_dim
        assert loss.num_components == 2
    assert model.encoder.layers[0].in_channels == 5


def test_a_splicer_run_trains_and_probes_the_same_chunks() -> None:
    """An embedding that K does not divide is chunked as evenly as it can be, the same way
    by the loss, the block projector and the run's record of its chunks."""
    cfg = config(variant="splicer", proj_dim=15, sections=(3, 1), projector="block")
    model, loss_fn = build(cfg)
    assert cfg.embedding_chunks() == loss_fn.sizes(15) == model.projector[-1].out_sizes == (5, 5, 5)
    cfg = config(variant="splicer", proj_dim=16, sections=(3, 1))
    assert cfg.embedding_chunks() == build(cfg)[1].sizes(16) == (6, 5, 5)
    assert config(variant="splicer", proj_dim=128, chunk_sizes=(40, 88)).embedding_chunks() == (40, 88)
    with pytest.raises(ValueError, match=r"chunk sizes \(40, 80\) add up to 120, not to 128"):
        config(variant="splicer", proj_dim=128, chunk_sizes=(40, 80))


def test_build_bad_method_is_named() -> None:
    with pytest.raises(ValueError, match=r"^method is 'moco'"):
        build(config(method="moco"))


# ------------------------------------------------------------------ one step


@pytest.mark.parametrize("variant, fill", [("baseline", "zero"), ("splicer", "zero"), ("splicer", "crop"),
                                           ("sigma_je", "zero"), ("average", "zero")])
def test_training_step_loss_and_features(data, variant: str, fill: str) -> None:
    torch.manual_seed(0)
    cfg = config(variant=variant, fill=fill)
    model, loss_fn = build(cfg)
    augment = training.SSLAugment("rgb")
    x = data[0][:8].float() / 255
    loss, features = training.training_step(model, loss_fn, augment, x, cfg)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert features.shape == (8, model.encoder.out_dim)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads)
    if variant != "baseline":  # the component projector is trained too
        assert model.component_projector[0].weight.grad.abs().sum() > 0


# ------------------------------------------------------------------ pretrain


@pytest.mark.parametrize("method, variant", [("simclr", "baseline"), ("simclr", "splicer"),
                                             ("vicreg", "baseline"), ("vicreg", "splicer")])
def test_pretraining_lowers_the_loss(data, method: str, variant: str) -> None:
    model, history = pretrain(data[0], config(method=method, variant=variant, width=8, epochs=4),
                              progress=False)
    assert len(history.loss) == 4 * 4 and len(history.epoch_loss) == 4
    assert all(np.isfinite(history.loss))
    first, last = np.mean(history.loss[:4]), np.mean(history.loss[-4:])
    assert last < first, f"loss did not fall: {history.loss}"
    assert history.epoch_loss[-1] < history.epoch_loss[0]
    assert history.wall_s > 0 and history.images_per_s > 0
    assert not model.training  # returned in eval mode


def test_same_seed_same_history_other_seed_differs(data) -> None:
    cfg = config(variant="splicer")
    m1, h1 = pretrain(data[0], cfg, progress=False)
    m2, h2 = pretrain(data[0], cfg, progress=False)
    assert h1.loss == h2.loss
    for (name, p1), p2 in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(p1, p2), name
    _, h3 = pretrain(data[0], config(variant="splicer", seed=1), progress=False)
    assert h3.loss != h1.loss


def test_online_probe_history(data) -> None:
    images, a, b = data
    _, history = pretrain(images, config(epochs=3), probe_labels={"top": a, "bottom": b}, progress=False)
    assert set(history.online_probe) == {"top", "bottom"}
    for accuracies in history.online_probe.values():
        assert len(accuracies) == 3
        assert all(0.0 <= acc <= 1.0 for acc in accuracies)
    _, plain = pretrain(images, config(), progress=False)
    assert plain.online_probe == {}


def test_online_probe_labels_must_match_images(data) -> None:
    with pytest.raises(ValueError, match=r"probe_labels\['a'\] has 100 labels for 128 images"):
        pretrain(data[0], config(), probe_labels={"a": data[1][:100]}, progress=False)


def test_batch_larger_than_the_data_is_capped(data) -> None:
    _, history = pretrain(data[0][:40], config(batch_size=256, epochs=2), progress=False)
    assert len(history.loss) == 2  # one full batch of 40 per epoch


@pytest.mark.parametrize("images, pattern", [
    (torch.rand(8, 3, 16, 8), r"images must be uint8"),
    (torch.zeros(8, 16, 8, dtype=torch.uint8), r"images must be a \(N, C, H, W\) tensor"),
])
def test_bad_images_raise(images: torch.Tensor, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        pretrain(images, config(), progress=False)


def test_cuda_device_without_gpu_raises(monkeypatch: pytest.MonkeyPatch, data) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"device is 'cuda'"):
        pretrain(data[0], config(), device="cuda", progress=False)


def test_splicer_crop_with_same_geometry_raises(data) -> None:
    with pytest.raises(ValueError, match=r"same_geometry=True needs components of the image's own shape"):
        pretrain(data[0], config(variant="splicer", fill="crop", same_geometry=True), progress=False)


@pytest.mark.parametrize("overrides", [
    {"variant": "splicer", "fill": "crop"},
    {"variant": "splicer", "projector": "block"},
    {"variant": "separate", "fill": "crop"},
    {"variant": "separate", "method": "vicreg"},
    {"variant": "splicer", "groups": ((0,), (1, 2)), "augment": "channels"},
    {"variant": "separate", "groups": ((0, 1), (2,)), "augment": "channels"},
    {"variant": "splicer", "same_geometry": True, "keep_primary": False, "lam": 0.5},
    {"variant": "splicer", "sections": (2, 2), "proj_dim": 16},
    {"variant": "sigma_je"},
    {"variant": "average", "method": "vicreg"},
    {"augment": "channels", "backbone": "resnet18"},
    {"variant": "splicer", "component_term": "cross", "component_temperature": 0.5},
    {"variant": "splicer", "component_projector": "shared"},
    {"variant": "average", "component_projector": "shared", "component_temperature": 0.5},
])
def test_other_settings_train(data, overrides: dict) -> None:
    _, history = pretrain(data[0][:64], config(**overrides), progress=False)
    assert len(history.loss) == 2 and all(np.isfinite(history.loss))


# ------------------------------------------------------------------ checkpoints


def test_checkpoint_is_saved_and_reloaded_without_training(data, tmp_path, monkeypatch) -> None:
    path = tmp_path / "runs" / "tiny.pt"
    cfg = config(variant="splicer", epochs=2)
    model, history = pretrain(data[0], cfg, checkpoint=path, progress=False)
    assert path.is_file()

    def no_training(*args, **kwargs):
        raise AssertionError("pretrain trained although a checkpoint of the same run exists")

    monkeypatch.setattr(training, "training_step", no_training)
    again, history_again = pretrain(data[0], config(variant="splicer", epochs=2), checkpoint=path,
                                    progress=False)
    assert isinstance(history_again, History)
    assert history_again.loss == history.loss
    assert history_again.epoch_loss == history.epoch_loss
    state, state_again = model.state_dict(), again.state_dict()
    assert state.keys() == state_again.keys()
    for name in state:
        assert torch.equal(state[name], state_again[name]), name
    assert not again.training
    x = data[0][:4].float() / 255
    with torch.no_grad():
        assert torch.equal(model.eval()(x), again(x))

    loaded, _ = load_checkpoint(path)  # without an expected config
    assert torch.equal(loaded.projector[-1].weight, model.projector[-1].weight)


def test_a_checkpoint_write_killed_midway_leaves_the_old_one(data, tmp_path, monkeypatch) -> None:
    path = tmp_path / "tiny.pt"
    model, history = pretrain(data[0], config(epochs=1), checkpoint=path, progress=False)
    before = path.read_bytes()

    def killed(state, file):
        Path(file).write_bytes(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(training.torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        training.save_checkpoint(path, model, config(epochs=1), history)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["tiny.pt"]


def test_checkpoint_of_another_run_raises(data, tmp_path) -> None:
    path = tmp_path / "tiny.pt"
    pretrain(data[0], config(), checkpoint=path, progress=False)
    with pytest.raises(ValueError, match=r"holds a different run.*\"seed\": \[0, 3\]"):
        pretrain(data[0], config(seed=3), checkpoint=path, progress=False)
    with pytest.raises(ValueError, match=r"holds a different run.*variant"):
        load_checkpoint(path, expected=config(variant="splicer"))


def test_checkpoint_for_images_with_other_channels_raises(data, tmp_path) -> None:
    path = tmp_path / "tiny.pt"
    pretrain(data[0], config(augment="channels"), checkpoint=path, progress=False)
    five_channels = torch.cat([data[0], data[0][:, :2]], dim=1)
    with pytest.raises(ValueError, match=r"3-channel images, but these have 5"):
        pretrain(five_channels, config(augment="channels"), checkpoint=path, progress=False)


def test_callback_runs_before_training_every_n_epochs_and_at_the_end(data) -> None:
    seen = []

    def callback(model):
        seen.append(model.training)
        return {"calls": len(seen)}

    _, history = pretrain(data[0], config(epochs=5), callback=callback, callback_every=2, progress=False)
    assert [c["epoch"] for c in history.curves] == [0, 2, 4, 5]
    assert [c["calls"] for c in history.curves] == [1, 2, 3, 4]
    assert seen == [False] * 4  # the callback sees the model in eval mode


# ------------------------------------------------------------------ variants and cost


def test_separate_builds_one_encoder_per_component_and_k_projectors(data) -> None:
    from splicer_tutorial.models import BlockLinear, SeparateEncoders

    model, loss_fn = build(config(variant="separate", sections=(2, 2), proj_dim=16))
    assert isinstance(model.encoder, SeparateEncoders) and len(model.encoder.encoders) == 4
    assert model.component_projector is None
    assert all(isinstance(m, BlockLinear) for m in model.projector if isinstance(m, (nn.Linear, BlockLinear)))
    features = model.encoder.eval()(data[0][:3].float() / 255)
    assert features.shape == (3, 4 * model.encoder.encoders[0].out_dim)


def test_block_projector_has_one_block_per_chunk() -> None:
    from splicer_tutorial.models import BlockLinear

    model, _ = build(config(variant="splicer", sections=(2, 2), projector="block"))
    assert isinstance(model.projector[-1], BlockLinear) and model.projector[-1].blocks == 4
    dense, _ = build(config(variant="splicer"))
    assert isinstance(dense.projector[-1], nn.Linear)


def test_channel_components_stay_zero_outside_their_channels(data) -> None:
    cfg = config(variant="splicer", groups=((0,), (1, 2)), augment="channels")
    parts = cfg.split(data[0][:4].float() / 255)
    augment = training.SSLAugment("channels", jitter=0.8, jitter_p=1.0)
    _, moved = augment.with_components(data[0][:4].float() / 255, parts)
    assert (moved[:, 0, 1:] != 0).any()  # the jitter's offset leaks into zeroed channels...
    cleaned = training._remask(moved, cfg)
    assert (cleaned[:, 0, 1:] == 0).all() and (cleaned[:, 1, 0] == 0).all()  # ...and is removed
    assert torch.equal(cleaned[:, 0, 0], moved[:, 0, 0])


def test_history_records_cost(data) -> None:
    cfg = config(variant="splicer", epochs=2)
    model, history = pretrain(data[0][:64], cfg, progress=False)
    assert len(history.epoch_s) == 2 and all(t > 0 for t in history.epoch_s)
    assert sum(history.epoch_s) <= history.wall_s * 1.01
    assert history.parameters == sum(p.numel() for p in model.parameters())
    assert history.peak_memory_mb is None  # not tracked on a CPU


@pytest.mark.parametrize("overrides, pattern", [
    ({"projector": "sparse"}, "projector is 'sparse'; use one of"),
    ({"sections": (2, 0)}, "sections must be"),
    ({"fill": "blur"}, "fill is 'blur'"),
    ({"groups": ((0,), ())}, "groups must be non-empty"),
    ({"groups": ((0,), (1,)), "fill": "crop"}, "leave fill='zero' with groups"),
    ({"variant": "separate", "lam": 2.0}, "variant 'separate' has no primary term"),
    ({"variant": "splicer", "component_projector": "tied"}, "component_projector is 'tied'; use one of"),
    ({"component_projector": "shared"}, "component_projector applies to the component variants .* not 'baseline'"),
    ({"component_term": "cross"}, "component_term and component_temperature apply to the component variants"),
])
def test_bad_variant_settings_are_named(overrides: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        build(config(**overrides))


def test_overlapping_groups_are_refused(data) -> None:
    with pytest.raises(ValueError, match="repeats channels"):
        pretrain(data[0][:64], config(variant="splicer", groups=((0, 1), (1, 2)), augment="channels"),
                 progress=False)


def test_separate_checkpoint_round_trip(data, tmp_path) -> None:
    path = tmp_path / "separate.pt"
    cfg = config(variant="separate", fill="crop")
    model, _ = pretrain(data[0][:64], cfg, checkpoint=path, progress=False)
    loaded, _ = load_checkpoint(path, expected=cfg)
    x = data[0][:4].float() / 255
    assert torch.allclose(model.encoder(x), loaded.encoder(x), atol=1e-6)


def test_named_groups_and_chunk_sizes_reach_the_model() -> None:
    cfg = config(variant="splicer", augment="channels", channel_names=("a", "b", "c"), groups=(("a",), ("b", "c")),
                 chunk_sizes=(4, 12))
    assert cfg.groups == ((0,), (1, 2))
    model, loss_fn = build(cfg)
    assert loss_fn.chunk_sizes == (4, 12) and model.component_projector[-1].out_features == 12
    model, _ = build(config(variant="splicer", chunk_sizes=(4, 12), projector="block"))
    assert model.projector[-1].out_sizes == (4, 12)
    with pytest.raises(ValueError, match="chunk_sizes applies to variant 'splicer' only"):
        config(variant="sigma_je", chunk_sizes=(64, 64))


def test_joint_pass_encodes_views_and_components_together(data, monkeypatch) -> None:
    cfg = config(variant="splicer", joint_pass=True)
    model, loss_fn = build(cfg)
    calls = []
    forward = model.encoder.forward
    monkeypatch.setattr(model.encoder, "forward", lambda x: calls.append(len(x)) or forward(x))
    x = data[0][:8].float() / 255
    loss, features = training.training_step(model, loss_fn, training.SSLAugment("rgb"), x, cfg)
    assert calls == [8 * 2 + 8 * 2]  # two views and two components of each image, one call
    assert features.shape == (8, model.encoder.out_dim) and torch.isfinite(loss)
    calls.clear()
    crop = config(variant="splicer", joint_pass=True, fill="crop")  # other shape: two calls
    training.training_step(model, loss_fn, training.SSLAugment("rgb"), x, crop)
    assert calls == [16, 16]


def halves_label_map(n: int, height: int = 16, width: int = 8) -> torch.Tensor:
    """Label 0 on the top half, 1 on the bottom half: masks that cut a domino in two."""
    labels = torch.zeros(n, height, width, dtype=torch.int64)
    labels[:, height // 2 :] = 1
    return labels


def test_mask_components_follow_the_label_map(data) -> None:
    cfg = config(variant="splicer", mask_labels=2)
    x = data[0][:4].float() / 255
    parts = cfg.split(x, halves_label_map(4))
    assert parts.shape == (4, 2, 3, 16, 8) and cfg.num_components == 2
    assert torch.equal(parts[:, 0, :, :8], x[:, :, :8]) and (parts[:, 0, :, 8:] == 0).all()
    assert torch.equal(parts.sum(dim=1), x)  # the label map partitions the image
    with pytest.raises(ValueError, match="components come from masks"):
        cfg.split(x)
    no_background = config(variant="splicer", mask_labels=2, mask_background=False)
    only = no_background.split(x, halves_label_map(4))
    assert no_background.num_components == 1 and torch.equal(only[:, 0], parts[:, 1])


def test_pretrain_with_masks_trains_and_checks_them(data) -> None:
    images = data[0]
    model, history = pretrain(images, config(variant="splicer", mask_labels=2, epochs=2),
                              masks=halves_label_map(len(images)), device="cpu", progress=False)
    assert len(history.epoch_loss) == 2 and np.isfinite(history.epoch_loss).all()
    cfg = config(variant="splicer", mask_labels=2)
    with pytest.raises(ValueError, match="needs masks="):
        pretrain(images, cfg, device="cpu", progress=False)
    with pytest.raises(ValueError, match="masks were given but config.mask_labels is None"):
        pretrain(images, config(), masks=halves_label_map(len(images)), device="cpu", progress=False)
    with pytest.raises(ValueError, match="outside 0..1"):
        pretrain(images, cfg, masks=halves_label_map(len(images)) * 2, device="cpu", progress=False)
    with pytest.raises(ValueError, match="do not match images"):
        pretrain(images, cfg, masks=halves_label_map(len(images), 8, 8), device="cpu", progress=False)
    with pytest.raises(ValueError, match="mask components need at least 2 labels"):
        config(variant="splicer", mask_labels=1)


def test_an_absent_label_is_warned_about(data) -> None:
    images = data[0]
    masks = halves_label_map(len(images))
    masks[:5] = 0  # five images without label 1
    with pytest.warns(UserWarning, match="5 of 128 images have no pixel of label 1"):
        pretrain(images, config(variant="splicer", mask_labels=2), masks=masks, device="cpu", progress=False)


def test_shared_component_projector_is_the_primary_projector() -> None:
    model, loss = build(config(variant="splicer", component_projector="shared"))
    assert model.component_projector is model.projector
    own, _ = build(config(variant="splicer"))
    assert sum(p.numel() for p in model.parameters()) < sum(p.numel() for p in own.parameters())
    components = torch.rand(4, 2, 3, 32, 16)
    assert model.embed_components(components).shape == (4, 2, model.projector[-1].out_features)


#: (channels, height, width) of each data set's full preset, and its training set size
FULL_SHAPES = {"dominoes": ((3, 64, 32), 8000), "multiplex": ((7, 48, 48), 8000), "histology": ((3, 64, 64), 8000),
               "multispectral": ((13, 64, 64), 8000), "eurosat_ms": ((13, 64, 64), 27000),
               "channel_toy": ((4, 32, 32), 8000), "randbits": ((16, 28, 28), 8000)}


@pytest.mark.parametrize("dataset", FULL_SHAPES)
def test_every_full_preset_fits_a_16_gb_gpu(dataset: str) -> None:
    """A full-preset training step of each data set, measured on the CPU at a small batch
    and scaled to the full one, in bf16 as on a GPU: SpliCER and separate encoders (the
    costliest variants) need at most 16 GB."""
    from splicer_tutorial import runs

    shape, n = FULL_SHAPES[dataset]
    for variant in ("splicer", "separate"):
        config = runs.train_config(dataset, "full", variant, **({"bits": shape[0] - 1} if dataset == "randbits" else {}))
        images = torch.randint(0, 256, (4, *shape), dtype=torch.uint8)
        masks = torch.randint(0, 2, (4, *shape[1:])) if config.mask_labels else None
        estimate = training.estimate_memory(config, images, masks, n_images=n, bf16=True)
        assert estimate["total"] <= 16 * 2**30, f"{dataset} {variant}: {estimate['total'] / 2**30:.1f} GB"
        assert estimate["activations"] > estimate["parameters"]  # activations dominate: the check measures them
        assert estimate["data"] == n * images[0].numel()  # uint8 images
        assert estimate["masks"] == (n * shape[1] * shape[2] * 8 if masks is not None else 0)  # int64 label maps


def test_the_estimate_grows_with_the_batch_and_shrinks_with_checkpointing() -> None:
    images = torch.randint(0, 256, (8, 3, 32, 16), dtype=torch.uint8)
    config = TrainConfig(backbone="resnet18", width=8, variant="splicer", batch_size=64)
    small = training.estimate_memory(config, images, n_images=1000, bf16=False)
    large = training.estimate_memory(TrainConfig(**{**config.to_dict(), "batch_size": 128}), images, n_images=1000,
                                     bf16=False)
    assert large["activations"] == pytest.approx(2 * small["activations"])
    assert large["parameters"] == small["parameters"] and small["data"] == 1000 * 3 * 32 * 16
    checkpointed = training.estimate_memory(TrainConfig(**{**config.to_dict(), "checkpoint_activations": True}),
                                            images, n_images=1000, bf16=False)
    assert checkpointed["activations"] < small["activations"] / 2


def test_a_run_that_does_not_fit_stops_before_training_with_what_to_change(monkeypatch) -> None:
    monkeypatch.setattr(training, "available_memory", lambda device: 2**20)  # a 1 MB device
    started = []
    monkeypatch.setattr(training, "seed_everything", lambda seed: started.append(seed))
    images = torch.randint(0, 256, (64, 3, 32, 16), dtype=torch.uint8)
    config = TrainConfig(backbone="resnet18", width=8, epochs=1, batch_size=32)
    with pytest.raises(MemoryError, match=r"this run needs about .* GB on cpu .* free; use "
                                          r"checkpoint_activations=True .* or "):
        pretrain(images, config, device="cpu", progress=False)
    assert not started  # refused before any work
    monkeypatch.undo()
    _, history = pretrain(images, config, device="cpu", progress=False)
    assert history.estimated_memory_mb > 0 and len(history.epoch_loss) == 1


def test_a_run_stopped_midway_and_resumed_ends_as_an_uninterrupted_one(tmp_path, monkeypatch) -> None:
    images = torch.randint(0, 256, (96, 3, 16, 8), dtype=torch.uint8)
    labels = {"digit": torch.arange(96) % 10}
    config = TrainConfig(width=4, epochs=3, batch_size=32, variant="splicer", seed=3)
    whole, whole_history = pretrain(images, config, probe_labels=labels, device="cpu", progress=False)

    path = tmp_path / "run.pt"
    save = training.save_checkpoint

    def killed_after_epoch_2(*args, training=None, **kwargs):
        save(*args, training=training, **kwargs)
        if training is not None and training["epoch"] == 2:
            raise KeyboardInterrupt  # the job is stopped right after its second checkpoint

    monkeypatch.setattr(training, "save_checkpoint", killed_after_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        pretrain(images, config, probe_labels=labels, checkpoint=path, checkpoint_every=1, device="cpu",
                 progress=False)
    monkeypatch.undo()
    with pytest.raises(ValueError, match="stopped after epoch 2; pass resume=True"):
        pretrain(images, config, probe_labels=labels, checkpoint=path, device="cpu", progress=False)
    with pytest.raises(ValueError, match="holds a different run"):
        pretrain(images, TrainConfig(**{**config.to_dict(), "lr": 1e-2}), checkpoint=path, resume=True,
                 device="cpu", progress=False)
    resumed, history = pretrain(images, config, probe_labels=labels, checkpoint=path, checkpoint_every=1,
                                resume=True, device="cpu", progress=False)
    assert history.loss == whole_history.loss and history.online_probe == whole_history.online_probe
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    again, _ = pretrain(images, config, checkpoint=path, device="cpu", progress=False)  # finished: loaded
    assert all(torch.equal(a, b) for a, b in zip(whole.state_dict().values(), again.state_dict().values()))
    with pytest.raises(ValueError, match="checkpoint_every=1 needs checkpoint="):
        pretrain(images, config, checkpoint_every=1, device="cpu", progress=False)


def test_components_that_do_not_fit_the_images_stop_before_training(monkeypatch) -> None:
    started = []
    monkeypatch.setattr(training, "seed_everything", lambda seed: started.append(seed))
    images = torch.randint(0, 256, (64, 3, 32, 16), dtype=torch.uint8)
    with pytest.raises(ValueError, match="random mask block=5"):
        pretrain(images, TrainConfig(**TINY, variant="splicer", random_mask=5, epochs=1), device="cpu", progress=False)
    with pytest.raises(ValueError, match="cannot be cut into a 40x1 grid"):
        pretrain(images, TrainConfig(**TINY, variant="splicer", sections=(40, 1), epochs=1), device="cpu",
                 progress=False)
    assert not started  # refused before any work
