"""The papers' records: every ablation of every paper is a valid config, the records' cross-references hold, and
stages, recipes and reported numbers are read the same way for every paper."""

import pytest

from experiments import config as config_lib
from experiments import papers
from experiments.config import ConfigError
from experiments.papers.record import CostComparison, PaperRecord, Reported


@pytest.mark.parametrize("paper", papers.PAPERS)
def test_every_ablation_of_every_paper_is_a_valid_config(paper):
    record = papers.record(paper)
    assert record.name == paper and record.main_ablation in record.ablations
    for ablation in record.ablations:
        config_lib.validate(papers.get_experiment(paper, ablation))
    for recipe in record.recipes:
        config_lib.validate(papers.apply_recipe(paper, recipe, papers.get_experiment(paper)))


def test_reported_numbers_are_the_papers():
    li = papers.record("li_convs").reported
    assert li["mnv2_aspp"].miou == {"VOC val": 72.19, "CelebAMask-HQ test": 74.73, "ADE20K val": 29.97}
    assert (li["resnet50_aspp_decoder"].params_k, li["resnet50_aspp_decoder"].gflops) == (26819, 92.85)
    assert li["mnv2_li_aspp_zone5"].miou == {"VOC val": 72.13} and li["mnv2_li_aspp_zone5"].params_k is None
    smoothing = papers.record("smoothing")
    assert smoothing.reported["gaussian"].miou == {"VOC val": 72.9, "Cityscapes val": 68.12}
    costs = {(c.ablation, c.baseline): c for c in smoothing.costs}
    assert costs[("average", "deeplabv2")].paper_train_ratio == 1.043
    # the evaluation servers' scores (issue 26 item 5), beside DifNet's VOC test numbers
    assert papers.record("pan").reported["pan_ms_flip"].miou == {"VOC val": 81.19, "VOC test": 84.0,
                                                                 "Cityscapes test": 78.6}
    assert papers.record("cyclenet").reported["cyclenet"].miou == {"Cityscapes val": 80.55, "Cityscapes test": 82.0}
    assert papers.record("difnet").reported["difnet_101"].miou["VOC test"] == 73.21
    assert costs[("average", "deeplabv2")].target_train_ratio == 1.05


def test_a_record_refuses_what_it_does_not_define():
    def row():
        return config_lib.ExperimentConfig()

    with pytest.raises(ValueError, match=r"\['missing'\] are not among its ablations"):
        PaperRecord("p", "P", {"a": row}, main_ablation="missing")
    with pytest.raises(ValueError, match=r"\['b'\] are not among its ablations"):
        PaperRecord("p", "P", {"a": row}, main_ablation="a", reported={"b": Reported()})
    with pytest.raises(ValueError, match=r"\['base'\] are not among its ablations"):
        PaperRecord("p", "P", {"a": row}, main_ablation="a", costs=(CostComparison("a", "base"),))


def test_stages_are_the_papers_own():
    assert papers.stage("li_convs", "li_only").trainable_patterns == (r"lateral_inhibition/intensity$",)
    with pytest.raises(ConfigError, match="unknown stage --finetune=li_only for paper 'smoothing'; valid stages: none"):
        papers.stage("smoothing", "li_only")
    with pytest.raises(ConfigError, match="valid stages: li_only"):
        papers.stage("li_convs", "all")
    refusal = papers.stage("li_convs", "li_only").refuses(papers.get_experiment("li_convs", "mnv2_aspp").model)
    assert "this model has no LI layer" in refusal
    assert papers.stage("li_convs", "li_only").refuses(papers.get_experiment("li_convs").model) is None
