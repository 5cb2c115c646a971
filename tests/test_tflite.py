"""python -m experiments.export --format=tflite (issue 24 item 7): the MobileNetV2 rows convert; float16's labels
agree with the SavedModel's; int8 (calibrated on training images) keeps the mIoU within a point (slow: it needs a
trained model); a model TFLite cannot run is refused with the reason."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from experiments import export, papers, train
from experiments import flags as cli
from li_seg import data
from li_seg.config import DataConfig
from li_seg.export.saved_model import export_saved_model
from li_seg.export.tflite import TFLiteExportError, convert_to_tflite, tflite_logits
from li_seg.layers.diagnostics import model_layers
from li_seg.models import build_model, inference_model
from li_seg.training.metrics import confusion_matrix, segmentation_metrics
from tests.paper_models import prepare, small_config

SIZE = (65, 65)


def _main(module, *args):
    cli.FLAGS.unparse_flags()
    cli.FLAGS([module.__name__, *args])
    return module.main([module.__name__])


def _val_images(count, data_config=DataConfig(), size=SIZE):
    """The val split's first images and labels (the embedded dataset's by default), resized (bilinear / nearest)
    to `size`."""
    pairs = []
    for batch in data.build_dataset(data_config, "val", training=False, max_examples=count):
        image = tf.image.resize(batch["image"], size)[0].numpy()
        label = tf.image.resize(batch["label"][..., None], size, method="nearest")[0, ..., 0].numpy()
        pairs.append((image, label))
    return pairs


def _train(run, ablation, steps, crop, flags, override=""):
    assert _main(train, "--paper=li_convs", f"--ablation={ablation}", f"--crop_size={crop}", "--batch_size=8",
                 f"--train_steps={steps}", f"--model_dir={run}", "--learning_rate=1e-3", *flags,
                 "--params_override=eval.max_examples=2,train.adam_epsilon=1e-7,train.lr_schedule=poly" + override) == 0


def test_the_tflite_model_is_the_saved_models(tmp_path):
    """DeepLabv3-MobileNetV2 with random weights (seed 0) and its BN statistics taken from the images (else the
    random network's logits collapse to ~1e-13 and every class ties), as the exporters write it: float32 TFLite's
    labels agree with the SavedModel's on >= 99 % of the pixels; float16's on >= 95 % here (measured 97.2 %: a
    random network's class margins are small enough for float16's rounding to flip some), on >= 99 % for a trained
    model (the slow test)."""
    keras.utils.set_random_seed(0)
    info = data.get_dataset_info(DataConfig())
    model = build_model(papers.get_experiment("li_convs", "mnv2_aspp").model, info.num_classes)
    images = [np.round(image) for image, _ in _val_images(4)]
    norms = [layer for layer in model_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0  # the moving statistics become this batch's
    model(np.stack(images), training=True)
    export_saved_model(model, str(tmp_path / "export"), info=info)
    serving = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"]
    float32 = np.stack(tflite_logits(convert_to_tflite(model, SIZE), images))
    saved = serving(images=tf.constant(np.stack(images).astype(np.uint8)))["classes"].numpy()
    float16 = np.stack(tflite_logits(convert_to_tflite(model, SIZE, "float16"), images))
    for name, logits, bound in (("float32", float32, 0.99), ("float16", float16, 0.95)):
        agreement = np.mean(logits.argmax(-1) == saved)
        print(f"{name} TFLite vs SavedModel labels: {100 * agreement:.2f} % of pixels")
        assert agreement >= bound, name


def test_a_model_tflite_cannot_run_is_refused_with_the_reason(without_op_determinism):
    """CycleNet's deformable convolution with its default sampler (crop_and_resize; under op determinism "auto"
    picks the gather sampler, which the converter takes: BUILD_NOTES 21.4)."""
    model = build_model(small_config("cyclenet", "cyclenet"), 5)
    with pytest.raises(TFLiteExportError, match="TFLite has no kernel for CropAndResize.*MobileNetV2 models"):
        convert_to_tflite(model, (33, 33))


def _run_and_compare(run, data_config, size, count, flags):
    """Exports `run` (trained) as float16 and int8 TFLite and a SavedModel through the command line; returns (float16
    vs SavedModel label agreement, float32 Keras mIoU, int8 TFLite mIoU) on `count` val images resized to `size`."""
    from experiments import config as config_lib
    from li_seg.training.checkpoints import load_trained_model

    for quantize in ("float16", "int8"):
        assert _main(export, f"--model_dir={run}", "--format=tflite", f"--quantize={quantize}",
                     f"--tflite_size={size[0]},{size[1]}", *flags) == 0
    assert _main(export, f"--model_dir={run}", *flags) == 0
    info = data.get_dataset_info(data_config)
    assert (run / "export" / "labels.txt").read_text().split() == list(info.class_names)
    model, _ = load_trained_model(config_lib.load(run / "config.json").model, info.num_classes, run)
    pairs = _val_images(count, data_config, size)
    images, labels = np.round(np.stack([p[0] for p in pairs])), np.stack([p[1] for p in pairs])
    serving = tf.saved_model.load(str(run / "export")).signatures["serving_default"]
    saved = serving(images=tf.constant(images.astype(np.uint8)))["classes"].numpy()
    float16 = tflite_logits((run / "export" / "model_float16.tflite").read_bytes(), images)
    agreement = float(np.mean(np.stack([logits.argmax(-1) for logits in float16]) == saved))
    int8 = tflite_logits((run / "export" / "model_int8.tflite").read_bytes(), images)
    scores = [100 * segmentation_metrics(confusion_matrix(labels, predicted, info.num_classes,
                                                          info.ignore_label).numpy())["miou"]
              for predicted in (model.predict(images, batch_size=8, verbose=0).argmax(-1),
                                np.stack([logits.argmax(-1) for logits in int8]))]
    print(f"float16 TFLite vs SavedModel labels: {100 * agreement:.2f} % of pixels; val mIoU at {size}: float32 "
          f"{scores[0]:.2f}, int8 TFLite {scores[1]:.2f}")
    return agreement, *scores


@pytest.mark.slow
def test_quantized_models_on_the_embedded_dataset(tmp_path):
    """LI-MobileNetV2 + LI-ASPP, 300 steps on the embedded dataset (from scratch it learns little there: the check
    that int8 keeps the mIoU is weak on its own, hence the CamVid test)."""
    _train(tmp_path / "run", "li_mnv2_li_aspp", 300, 65, [])
    agreement, float32, int8 = _run_and_compare(tmp_path / "run", DataConfig(), SIZE, 64, [])
    assert agreement >= 0.99 and abs(int8 - float32) <= 1.0


@pytest.mark.slow
def test_quantized_models_on_camvid(tmp_path, camvid_dir):
    """The same model trained 400 steps on CamVid (the protocol of docs/results.md), where it learns: float16 agrees
    with the SavedModel on >= 99 % of the pixels, int8's mIoU on the 101 val images at 176 x 240 is within a point
    of float32's."""
    flags = ["--dataset=camvid", f"--data_dir={camvid_dir}"]
    _train(tmp_path / "run", "li_mnv2_li_aspp", 400, "176,240", flags,
           ",data.min_scale=0.4,data.max_scale=0.6,data.scale_step=0")
    data_config = DataConfig(dataset="camvid", data_dir=str(camvid_dir))
    agreement, float32, int8 = _run_and_compare(tmp_path / "run", data_config, (176, 240), 101, flags)
    assert float32 > 25  # trained: the comparison means something
    assert agreement >= 0.99 and abs(int8 - float32) <= 1.0


@pytest.mark.slow
def test_cyclenet_converts_with_the_gather_sampler_and_computes_the_same_logits(without_op_determinism):
    """Under op determinism the deformable convs' "auto" sampler is the gather one, which TFLite has kernels for:
    CycleNet (ResNet-18, CycleASPP 64 / 32, ADC with offsets of a few tenths of a pixel, BN statistics from the
    images) converts, and float32 TFLite's logits equal the Keras model's to float32 rounding."""
    from tensorflow.python.framework import config as framework_config  # enable_op_determinism's switch

    keras.utils.set_random_seed(0)
    model = build_model(small_config("cyclenet", "cyclenet"), 7)
    images = [np.round(image) for image, _ in _val_images(2)]
    prepare(model, np.random.default_rng(0))  # the offsets fractional (and dropout off)
    for layer in model_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    model(np.stack(images), training=True)
    expected = inference_model(model).predict(np.stack(images), verbose=0)
    framework_config.enable_op_determinism()
    try:
        flatbuffer = convert_to_tflite(model, SIZE)
    finally:
        framework_config.disable_op_determinism()
    logits = np.stack(tflite_logits(flatbuffer, images))
    scale = np.abs(expected).max()
    print(f"CycleNet float32 TFLite vs Keras: max |logit difference| {np.abs(logits - expected).max() / scale:.2e} "
          f"of the largest logit; labels agree on {100 * np.mean(logits.argmax(-1) == expected.argmax(-1)):.2f} %")
    np.testing.assert_allclose(logits, expected, atol=1e-4 * scale)
    assert np.mean(logits.argmax(-1) == expected.argmax(-1)) >= 0.999
