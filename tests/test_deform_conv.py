"""li_seg.ops.modulated_deform_conv2d (DCNv2) against the NumPy reference of its equation (tests/dcn_reference.py,
written with plain loops by a helper who had not seen our op, and itself checked against
torchvision.ops.deform_conv2d to 7e-15 on 96 cases, border samples included: BUILD_NOTES.md), against tf.nn.conv2d
for zero offsets, in float64 gradients, under tf.function, mixed precision, a SavedModel and two replicas. Both
samplers: "crop_and_resize" (float32 / float16 default) against the reference and in its gradients against
"gather" (float64's, checked against finite differences)."""

import numpy as np
import pytest
import tensorflow as tf

from li_seg.ops import modulated_deform_conv2d
from li_seg.ops.deform_conv import output_size
from li_seg.training.strategy import make_strategy

from tests import dcn_reference as ref


def _case(rng, kernel=3, stride=1, dilation=1, groups=1, channels=4, filters=5, size=(7, 6), batch=2,
          border=False, integer=False):
    height, width = size
    out_h, out_w = output_size(height, kernel, stride, dilation), output_size(width, kernel, stride, dilation)
    x = rng.normal(size=(batch, height, width, channels))
    offsets = rng.uniform(-3, 3, size=(batch, out_h, out_w, 2 * groups * kernel * kernel))
    if integer:
        offsets = np.round(offsets)
    if border:  # place samples exactly on the border cases: py in {-1, -0.5, 0, H - 1, H - 0.5, H} and px likewise
        pad = dilation * (kernel - 1) // 2
        targets_y = [-1.0, -0.5, 0.0, height - 1.0, height - 0.5, float(height)]
        targets_x = [-1.0, -0.5, 0.0, width - 1.0, width - 0.5, float(width)]
        for oy in range(out_h):
            for ox in range(out_w):
                for tap in range(groups * kernel * kernel):
                    i, j = divmod(tap % (kernel * kernel), kernel)
                    ty, tx = targets_y[(oy + tap) % 6], targets_x[(ox + 2 * tap) % 6]
                    offsets[:, oy, ox, 2 * tap] = ty - (oy * stride - pad + i * dilation)
                    offsets[:, oy, ox, 2 * tap + 1] = tx - (ox * stride - pad + j * dilation)
    mask = rng.uniform(-0.5, 1.5, size=(batch, out_h, out_w, groups * kernel * kernel))
    weights = rng.normal(size=(kernel, kernel, channels, filters))
    bias = rng.normal(size=(filters,))
    return x, offsets, mask, weights, bias


def _ours(x, offsets, mask, weights, bias, stride, dilation, groups, dtype=tf.float32, sampler="auto"):
    args = [tf.constant(a, dtype) for a in (x, offsets, mask, weights, bias)]
    return modulated_deform_conv2d(*args, strides=stride, dilation_rate=dilation, deformable_groups=groups,
                                   sampler=sampler).numpy()


def _reference(x, offsets, mask, weights, bias, stride, dilation, groups):
    pad = dilation * (weights.shape[0] - 1) // 2
    return ref.modulated_deform_conv2d(x, offsets, mask, weights, bias, stride=stride, padding=pad,
                                      dilation=dilation, deformable_groups=groups)


@pytest.mark.parametrize("kernel, stride, dilation, groups, channels", [
    (3, 1, 1, 1, 4), (3, 2, 1, 1, 3), (3, 1, 2, 1, 1), (3, 2, 2, 2, 4), (1, 1, 1, 1, 3), (1, 2, 1, 2, 4),
])
@pytest.mark.parametrize("offsets_kind", ["random", "border", "integer"])
def test_matches_the_dcnv2_reference(kernel, stride, dilation, groups, channels, offsets_kind):
    rng = np.random.default_rng(kernel * 100 + stride * 10 + dilation)
    case = _case(rng, kernel, stride, dilation, groups, channels, border=offsets_kind == "border",
                 integer=offsets_kind == "integer")
    expected = _reference(*case, stride, dilation, groups)
    for sampler in ("crop_and_resize", "gather"):
        np.testing.assert_allclose(_ours(*case, stride, dilation, groups, sampler=sampler), expected,
                                   atol=2e-5 * np.abs(expected).max(), err_msg=sampler)
    np.testing.assert_allclose(_ours(*case, stride, dilation, groups, tf.float64), expected, atol=1e-10)


@pytest.mark.parametrize("stride, dilation", [(1, 1), (2, 1), (1, 2)])
def test_zero_offsets_and_unit_mask_are_a_convolution(stride, dilation):
    rng = np.random.default_rng(1)
    x, offsets, mask, weights, bias = _case(rng, 3, stride, dilation, size=(9, 8))
    pad = dilation
    expected = tf.nn.conv2d(tf.constant(x, tf.float32), tf.constant(weights, tf.float32), stride,
                            [[0, 0], [pad, pad], [pad, pad], [0, 0]], dilations=dilation) + bias
    ours = _ours(x, np.zeros_like(offsets), np.ones_like(mask), weights, bias, stride, dilation, 1)
    np.testing.assert_allclose(ours, expected.numpy(), atol=1e-4)


def test_gradients_in_all_four_inputs_match_finite_differences():
    """float64 Jacobians of inputs, offsets, mask and kernel (stride 2, dilation 2, two deformable groups;
    fractional offsets away from integer positions, where the bilinear weights are smooth)."""
    rng = np.random.default_rng(2)
    x, offsets, mask, weights, _ = _case(rng, 3, 2, 2, 2, channels=2, filters=2, size=(5, 6), batch=1)
    offsets = np.floor(offsets) + rng.uniform(0.2, 0.8, offsets.shape)

    @tf.function  # traced once: compute_gradient evaluates it twice per input element
    def op(x_, offsets_, mask_, kernel_):
        return modulated_deform_conv2d(x_, offsets_, mask_, kernel_, strides=2, dilation_rate=2, deformable_groups=2)

    args = [tf.constant(a, tf.float64) for a in (x, offsets, mask, weights)]
    theoretical, numerical = tf.test.compute_gradient(op, args, delta=1e-6)
    for name, analytic, numeric in zip(("inputs", "offsets", "mask", "kernel"), theoretical, numerical):
        assert np.abs(numeric).max() > 1e-2, name
        np.testing.assert_allclose(analytic, numeric, atol=1e-6, err_msg=name)


def test_the_samplers_gradients_agree():
    """crop_and_resize's gradients (box corners: TensorFlow's; image: our segment sum) against the gather sampler's
    in float32, in all four
    inputs (stride 2, dilation 2, two deformable groups, samples away from integer positions and from the border
    cuts, where both are one-sided derivatives of a non-differentiable function)."""
    rng = np.random.default_rng(5)
    x, offsets, mask, weights, _ = _case(rng, 3, 2, 2, 2, channels=4, filters=3, size=(9, 8))
    offsets = np.floor(offsets) + rng.uniform(0.2, 0.8, offsets.shape)
    args = [tf.constant(a, tf.float32) for a in (x, offsets, mask, weights)]
    projection = tf.constant(rng.normal(size=(2, 5, 4, 3)), tf.float32)
    gradients = {}
    for sampler in ("crop_and_resize", "gather"):
        with tf.GradientTape() as tape:
            tape.watch(args)
            y = modulated_deform_conv2d(*args, strides=2, dilation_rate=2, deformable_groups=2, sampler=sampler)
            loss = tf.reduce_sum(y * projection)
        gradients[sampler] = tape.gradient(loss, args)
    for name, fast, exact in zip(("inputs", "offsets", "mask", "kernel"), *gradients.values()):
        scale = float(tf.reduce_max(tf.abs(exact)))
        assert scale > 1e-2, name
        np.testing.assert_allclose(fast, exact, atol=1e-4 * scale, err_msg=name)


def test_the_default_samplers_input_gradient_is_right_on_every_call():
    """At 2 x 32 x 32 x 256 TensorFlow's CPU CropAndResizeGradImage gave wrong input gradients in some calls (3 of 8
    here, up to 17 % of max |dx|; BUILD_NOTES 19); the crop_and_resize sampler's input gradient is now a segment
    sum: every call equals the gather sampler's."""
    rng = np.random.default_rng(0)
    batch, size, channels = 2, 32, 256
    x = rng.normal(size=(batch, size, size, channels)).astype(np.float32)
    offsets = rng.normal(scale=2.0, size=(batch, size, size, 18)).astype(np.float32)
    mask = rng.uniform(size=(batch, size, size, 9)).astype(np.float32)
    kernel = rng.normal(scale=0.05, size=(3, 3, channels, channels)).astype(np.float32)
    upstream = tf.constant(rng.normal(size=(batch, size, size, channels)).astype(np.float32))
    args = [tf.constant(a) for a in (x, offsets, mask)]

    def gradients(sampler):  # eagerly, all three inputs' gradients, as the wrong ones were seen
        with tf.GradientTape() as tape:
            tape.watch(args)
            loss = tf.reduce_sum(modulated_deform_conv2d(*args, kernel, sampler=sampler) * upstream)
        return [g.numpy() for g in tape.gradient(loss, args)]

    exact = gradients("gather")[0]
    scale = np.abs(exact).max()
    for call in range(8):
        np.testing.assert_allclose(gradients("crop_and_resize")[0], exact, atol=1e-5 * scale, err_msg=f"call {call}")


def test_auto_picks_the_xla_capable_sampler_inside_xla():
    """CropAndResize has no XLA kernel: "auto" traced under jit_compile=True uses the gather sampler, and the
    compiled forward and gradients equal the uncompiled ones."""
    rng = np.random.default_rng(12)
    x, offsets, mask, weights, _ = _case(rng, 3, channels=4, filters=3, size=(7, 6))
    args = [tf.constant(a, tf.float32) for a in (x, offsets, mask, weights)]

    def step(*args):
        with tf.GradientTape() as tape:
            tape.watch(args)
            y = modulated_deform_conv2d(*args)
            loss = tf.reduce_sum(y * y)
        return [y, *tape.gradient(loss, args)]

    compiled = tf.function(step, jit_compile=True)
    assert "CropAndResize" not in {op.type for op in compiled.get_concrete_function(*args).graph.get_operations()}
    for name, xla, plain in zip(("output", "inputs", "offsets", "mask", "kernel"), compiled(*args), step(*args)):
        np.testing.assert_allclose(xla.numpy(), plain.numpy(), rtol=1e-4, atol=1e-4 * np.abs(plain).max(),
                                   err_msg=name)


def test_samplers_are_chosen_by_dtype_and_determinism_and_named_when_unknown(monkeypatch):
    """"auto": crop_and_resize for float32, gather for float64 and under op determinism (which another test of the
    same process may have turned on for good: both states are set here)."""
    from li_seg.ops import deform_conv
    from li_seg.ops.deform_conv import _sampler

    monkeypatch.setattr(deform_conv.framework_config, "is_op_determinism_enabled", lambda: False)
    assert _sampler("auto", tf.float32) == "crop_and_resize" and _sampler("auto", tf.float64) == "gather"
    assert _sampler("gather", tf.float32) == "gather"
    monkeypatch.setattr(deform_conv.framework_config, "is_op_determinism_enabled", lambda: True)
    assert _sampler("auto", tf.float32) == "gather" and _sampler("crop_and_resize", tf.float32) == "crop_and_resize"
    with pytest.raises(ValueError, match="sampler='bilinear' is not one of auto, crop_and_resize, gather"):
        _sampler("bilinear", tf.float32)


def test_any_batch_and_size_under_tf_function_and_mixed_precision():
    rng = np.random.default_rng(3)
    spec = [tf.TensorSpec([None, None, None, c], tf.float32) for c in (3, 18, 9)]

    @tf.function(input_signature=[*spec, tf.TensorSpec([3, 3, 3, 4], tf.float32)])
    def traced(x, offsets, mask, kernel):
        return modulated_deform_conv2d(x, offsets, mask, kernel)

    for batch, size in [(1, (5, 5)), (3, (8, 3)), (2, (1, 1))]:
        x, offsets, mask, weights, _ = _case(rng, 3, channels=3, filters=4, size=size, batch=batch)
        expected = _reference(x, offsets, mask, weights, np.zeros(4), 1, 1, 1)
        got = traced(*[tf.constant(a, tf.float32) for a in (x, offsets, mask, weights)])
        np.testing.assert_allclose(got.numpy(), expected, atol=1e-4)
        half = modulated_deform_conv2d(tf.constant(x, tf.float16), tf.constant(offsets, tf.float32),
                                       tf.constant(mask, tf.float16), tf.constant(weights, tf.float16))
        assert half.dtype == tf.float16
        np.testing.assert_allclose(half.numpy().astype(np.float64), expected, atol=0.05 * np.abs(expected).max())


def test_float16_inputs_sample_at_float32_positions_on_a_papers_size_map():
    """CycleNet's alignment map at a 769 crop is 97 x 97: float16 positions there are 1/16 apart, which would move
    every sample by up to 0.03 pixels. The float16 op's output is within float16 rounding of the float64 reference
    on the same (float16-rounded) inputs: 0.1 % of its maximum when written, where the reference with only its
    positions rounded to float16 is 4.3 % off (a NumPy emulation, BUILD_NOTES 19.3)."""
    rng = np.random.default_rng(9)
    x, offsets, mask, weights, _ = _case(rng, 3, channels=2, filters=2, size=(97, 97), batch=1)
    rounded = [a.astype(np.float16) for a in (x, offsets, mask, weights)]
    expected = _reference(*[a.astype(np.float64) for a in rounded], np.zeros(2), 1, 1, 1)
    got = modulated_deform_conv2d(*[tf.constant(a) for a in rounded])
    assert got.dtype == tf.float16
    np.testing.assert_allclose(got.numpy().astype(np.float64), expected, atol=3e-3 * np.abs(expected).max())


def test_exports_in_a_saved_model_and_runs_on_two_replicas(tmp_path):
    rng = np.random.default_rng(4)
    x, offsets, mask, weights, bias = _case(rng, 3, channels=3, filters=2, size=(6, 5))
    module = tf.Module()
    module.kernel = tf.Variable(weights, dtype=tf.float32)
    signature = [tf.TensorSpec([None, None, None, channels]) for channels in (3, 18, 9)]
    module.run = tf.function(lambda x_, o_, m_: modulated_deform_conv2d(x_, o_, m_, module.kernel),
                             input_signature=signature)
    tf.saved_model.save(module, str(tmp_path / "dcn"))
    loaded = tf.saved_model.load(str(tmp_path / "dcn"))
    inputs = [tf.constant(a, tf.float32) for a in (x, offsets, mask)]
    expected = _reference(x, offsets, mask, weights, np.zeros(2), 1, 1, 1)
    np.testing.assert_allclose(loaded.run(*inputs).numpy(), expected, atol=1e-4)

    strategy = make_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        kernel = tf.Variable(weights, dtype=tf.float32)

    @tf.function
    def step(x_, o_, m_):
        def replica(a, b, c):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(modulated_deform_conv2d(a, b, c, kernel))
            return tape.gradient(loss, kernel)
        return strategy.reduce("SUM", strategy.run(replica, (x_, o_, m_)), axis=None)

    dataset = tf.data.Dataset.from_tensor_slices(tuple(inputs)).batch(2)
    batch = next(iter(strategy.experimental_distribute_dataset(dataset)))
    gradient = step(*batch)
    with tf.GradientTape() as tape:
        tape.watch(module.kernel)
        single = tf.reduce_sum(modulated_deform_conv2d(*inputs, module.kernel))
    np.testing.assert_allclose(gradient.numpy(), tape.gradient(single, module.kernel).numpy(), rtol=1e-4, atol=1e-4)


def test_shape_mismatches_name_the_problem():
    x, offsets, mask, weights = tf.zeros([1, 5, 5, 4]), tf.zeros([1, 5, 5, 16]), tf.zeros([1, 5, 5, 9]), \
        tf.zeros([3, 3, 4, 2])
    with pytest.raises(ValueError, match=r"offsets need 2 x 1 x 9 = 18 channels .* got 16"):
        modulated_deform_conv2d(x, offsets, mask, weights)
    with pytest.raises(ValueError, match=r"deformable_groups=3 must divide the kernel's 4 input channels"):
        modulated_deform_conv2d(x, tf.zeros([1, 5, 5, 54]), tf.zeros([1, 5, 5, 27]), weights, deformable_groups=3)
