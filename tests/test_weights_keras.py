"""keras.applications' ResNet50 HDF5 weights into our caffe-layout ResNet-50 (issue 15), against the real network
(keras.applications.ResNet50(weights=None), its weights, biases and BN statistics drawn at random): the legacy
HDF5 layout its downloads use, from the same raw images (the normalisation, Keras' Caffe mean, comes with the
weights). Their convs' biases fold into our BN means. (Keras 3's .weights.h5 names variables
by position, not by layer: such a file of keras.applications' ResNet is refused with a message.)"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras.src.legacy.saving import legacy_h5_format

from li_seg.backbones.pretrained import build_pretrained_backbone
from li_seg.config import BackboneConfig
from li_seg.layers.normalization import BatchNormSettings
from li_seg.weights import MappingError, detect_format
from tests.numpy_layers import relative_error
from tests.weights_helpers import bn_epsilons

TOLERANCE = 1e-4
RNG = np.random.default_rng(50)


@pytest.fixture(scope="module")
def keras_resnet50(tmp_path_factory):
    model = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(None, None, 3))
    for variable in model.weights:
        name, shape = variable.path, variable.shape
        if name.endswith("moving_variance"):
            value = RNG.uniform(0.5, 1.5, shape)
        elif name.endswith(("moving_mean", "beta", "bias")):
            value = RNG.normal(0.0, 0.1, shape)
        elif name.endswith("gamma"):
            value = RNG.uniform(0.5, 1.0, shape)
        else:
            value = RNG.normal(0.0, np.sqrt(2.0 / np.prod(shape[:-1])), shape)
        variable.assign(value.astype(np.float32))
    folder = tmp_path_factory.mktemp("keras_resnet50")
    legacy = str(folder / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5")
    import h5py

    with h5py.File(legacy, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    keras3 = str(folder / "resnet50.weights.h5")
    model.save_weights(keras3)
    return model, (legacy, keras3)


def test_keras_applications_resnet50_matches_keras(keras_resnet50):
    model, (path, _) = keras_resnet50
    assert detect_format(path) == "keras_applications"
    config = BackboneConfig(name="resnet50", layout="caffe", stem="plain", output_stride=32, weights=path)
    ours = build_pretrained_backbone(config, BatchNormSettings())
    assert bn_epsilons(ours) == {1.001e-5}  # Keras' own, carried with the weights
    assert ours.backbone_config.normalization == "caffe_bgr_keras"  # Keras' caffe mean, carried with the weights
    images = RNG.uniform(0, 255, (2, 66, 82, 3)).astype(np.float32)  # a stem output of 33 x 41: odd (see the table)
    outputs = ours(images)
    keras_features = keras.Model(model.input, [model.get_layer(f"conv{b}_block{n}_out").output
                                               for b, n in ((2, 3), (3, 4), (4, 6), (5, 3))])
    # From the same raw images, each through its own preprocessing (Keras': resnet.preprocess_input, mode "caffe").
    keras_input = keras.applications.resnet.preprocess_input(images.copy())
    np.testing.assert_allclose(outputs["input"], keras_input, atol=1e-4)
    expected = keras_features(keras_input)
    for block, reference in enumerate(expected, start=1):
        error = relative_error(outputs[f"block{block}"], reference)
        print(f"keras.applications ResNet50 block{block}: relative error {error:.1e}")
        assert error < TOLERANCE, block


def test_keras_resnet50_weights_do_not_load_into_resnet101(keras_resnet50):
    _, (legacy, _) = keras_resnet50
    config = BackboneConfig(name="resnet101", layout="caffe", stem="plain", output_stride=32, weights=legacy)
    with pytest.raises(MappingError, match="block3_unit7_conv1/kernel"):
        build_pretrained_backbone(config, BatchNormSettings())


def test_a_keras3_weights_file_of_keras_applications_is_refused_with_the_reason(keras_resnet50):
    _, (_, keras3) = keras_resnet50
    config = BackboneConfig(name="resnet50", layout="caffe", stem="plain", output_stride=32, weights=keras3)
    with pytest.raises(ValueError, match="loads by position"):
        build_pretrained_backbone(config, BatchNormSettings())
