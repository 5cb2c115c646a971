"""Test-session setup: quiet TensorFlow, two logical CPU devices (so MirroredStrategy tests have two replicas)."""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)

# The optional real CamVid copy (SegNet layout: train.txt, val.txt, train/, trainannot/, val/, valannot/):
# $LI_SEG_CAMVID_DIR, else ../shared/datasets/camvid beside the checkout.
CAMVID_DIR = pathlib.Path(os.environ.get(
    "LI_SEG_CAMVID_DIR", pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "camvid"))


@pytest.fixture(scope="session", autouse=True)
def _temporary_files_under_pytests_base(tmp_path_factory):
    """Temporary files of this session and of its subprocesses in pytest's own (rotated) directory, not /tmp:
    TensorFlow's autograph writes one source file per converted function there, and TFDS one empty directory per
    builder of an unprepared dataset (DatasetInfo.initialize_from_bucket), neither ever removed."""
    import tempfile

    directory = str(tmp_path_factory.mktemp("tempfile"))
    saved = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = os.environ["TMPDIR"] = directory
    yield
    tempfile.tempdir = saved[0]
    if saved[1] is None:
        del os.environ["TMPDIR"]
    else:
        os.environ["TMPDIR"] = saved[1]


@pytest.fixture
def without_op_determinism():
    """Op determinism off for the test (XLA has no deterministic max-pool gradient), whatever an earlier test of
    the same process turned on (a trainer with train.deterministic does, for good); restored afterwards."""
    from tensorflow.python.framework import config as framework_config  # disable_op_determinism: no public API

    was_on = framework_config.is_op_determinism_enabled()
    framework_config.disable_op_determinism()
    yield
    if was_on:
        framework_config.enable_op_determinism()


@pytest.fixture
def mixed_float16_policy():
    """Keras' global dtype policy mixed_float16 for the test, float32 again afterwards."""
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture
def camvid_dir():
    """The real CamVid copy ($LI_SEG_CAMVID_DIR or ../shared/datasets/camvid); skips when it is absent."""
    if not (CAMVID_DIR / "train.txt").exists():
        pytest.skip(f"CamVid not found at {CAMVID_DIR} (set LI_SEG_CAMVID_DIR to a copy in the SegNet layout)")
    return CAMVID_DIR
