"""Model sources: torchvision + state dict, factories, pickles, TorchScript, torch.export, timm."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from faithcam.io.model_sources import LoadedModel, ModelError, load_model, load_weights
from tests.helpers import GapLinearNet

FACTORY = "tests.io.test_model_sources:tiny_net"


def tiny_net(num_classes: int = 5) -> GapLinearNet:
    """A ``package.module:factory`` target."""
    return GapLinearNet(classes=num_classes)


@pytest.fixture(scope="module")
def resnet_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet18-10.pt"
    torch.save(torchvision.models.resnet18(weights=None, num_classes=10).state_dict(), path)
    return path


def test_torchvision_name_with_state_dict(resnet_weights: Path) -> None:
    loaded = load_model("resnet18", resnet_weights, num_classes=10)
    assert not loaded.model.training
    assert loaded.class_names is None  # 10 outputs: ImageNet names do not apply
    assert loaded.class_name(3) == "class 3"
    with pytest.raises(ModelError, match=r"fc.weight \(10, 512\) vs \(1000, 512\).*--num-classes"):
        load_model("resnet18", resnet_weights)
    with pytest.raises(ModelError, match=r"missing keys: layer1.2"):
        load_model("resnet34", resnet_weights, num_classes=10)


def test_imagenet_class_names_come_from_torchvision_metadata(tmp_path: Path) -> None:
    import torchvision

    path = tmp_path / "sq.pt"
    torch.save(torchvision.models.squeezenet1_1(weights=None).state_dict(), path)
    loaded = load_model("squeezenet1_1", path)
    assert len(loaded.class_names) == 1000 and loaded.class_name(281) == "tabby"
    assert loaded.class_id("Tabby", 1000) == 281
    assert loaded.class_id("281", 1000) == 281
    with pytest.raises(ModelError, match=r"out of range: the model has 1000 classes \(0..999\)"):
        loaded.class_id("1000", 1000)
    with pytest.raises(ModelError, match=r"did you mean 'tabby'"):
        loaded.class_id("tabbby", 1000)


def test_unknown_names_and_missing_packages() -> None:
    with pytest.raises(ModelError, match=r"unknown model 'resnet19'; did you mean resnet18"):
        load_model("resnet19")
    with pytest.raises(ModelError, match=r"timm is not installed; run: pip install timm"):
        load_model("timm/resnet18")
    with pytest.raises(ModelError, match=r"no weights: pass --weights FILE"):
        load_model("alexnet")
    with pytest.raises(ModelError, match=r"no such file"):
        load_model("models/mine.pt")


def test_factory_strings(tmp_path: Path) -> None:
    torch.manual_seed(0)
    path = tmp_path / "gap.pt"
    torch.save(GapLinearNet().state_dict(), path)
    loaded = load_model(FACTORY, path)
    torch.testing.assert_close(loaded.model.fc.weight, torch.load(path)["fc.weight"])
    assert load_model(FACTORY, num_classes=3).model.fc.out_features == 3
    with pytest.raises(ModelError, match=r"cannot import 'no_such_pkg.models'"):
        load_model("no_such_pkg.models:net")
    with pytest.raises(ModelError, match=r"has no attribute 'Nope'"):
        load_model("tests.helpers:Nope")
    with pytest.raises(ModelError, match=r"factory failed: TypeError"):
        load_model("tests.helpers:GapLinearNet", num_classes=3)
    with pytest.raises(ModelError, match=r"returned str, not a torch.nn.Module"):
        load_model("os:getcwd")


def test_pickles_need_trust(tmp_path: Path) -> None:
    model = GapLinearNet()
    full = tmp_path / "full.pt"
    torch.save(model, full)
    with pytest.raises(ModelError, match=r"--trust-pickle"):
        load_model(str(full))
    assert isinstance(load_model(str(full), trust_pickle=True).model, GapLinearNet)
    with pytest.raises(ModelError, match=r"not a plain state dict .*--trust-pickle"):
        load_weights(GapLinearNet(), full)
    load_weights(GapLinearNet(), full, trust_pickle=True)  # a pickled module's weights
    checkpoint = tmp_path / "ckpt.pt"
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    torch.save({"epoch": 3, "state_dict": state}, checkpoint)
    load_weights(GapLinearNet(), checkpoint)  # nested and DataParallel-prefixed
    with pytest.raises(ModelError, match=r"holds weights, not a model"):
        load_model(str(checkpoint))
    with pytest.raises(ModelError, match=r"unexpected keys: extra"):
        torch.save({**model.state_dict(), "extra": torch.zeros(1)}, checkpoint)
        load_weights(GapLinearNet(), checkpoint)


def test_torchscript_refused_torch_export_explained(tmp_path: Path) -> None:
    import faithcam

    torch.manual_seed(0)
    model = GapLinearNet().eval()
    images = torch.rand(2, 3, 16, 16)
    scripted = tmp_path / "net.ts"
    torch.jit.save(torch.jit.trace(model, images), scripted)
    with pytest.raises(ModelError, match=r"TorchScript archive.*torch.export"):
        load_model(str(scripted))
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(model, (images,), dynamic_shapes=({0: batch},))
    exported = tmp_path / "net.pt2"
    torch.export.save(program, exported)
    loaded = load_model(str(exported))
    assert isinstance(loaded, LoadedModel)
    reference = faithcam.explain(model, images, "gradcam", layer="features")
    result = faithcam.explain(loaded.model, images, "gradcam", layer="features")
    torch.testing.assert_close(result.maps, reference.maps)
