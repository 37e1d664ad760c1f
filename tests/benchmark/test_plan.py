"""Which runs a benchmark command selects, and their stages."""
import pytest

from mmdet_vit_transfer.benchmark.plan import (CONFIG_ROOT, HandoffStage,
                                               TrainStage, grid_configs,
                                               plan_runs, seeded_runs)
from mmdet_vit_transfer.utils.errors import UserInputError


def names(paths):
    return [p.stem for p in paths]


def test_the_whole_grid_is_thirty_runs_in_table_order():
    configs = grid_configs()
    assert len(configs) == 30
    assert names(configs[:4]) == [
        'random_vitb_maskrcnn_100e', 'random_vitb_maskrcnn_200e',
        'random_vitb_maskrcnn_400e', 'random_vitl_maskrcnn_100e']
    assert configs[-1].name == 'mae_vitl_maskrcnn_100e.py'


def test_a_family_runs_when_its_init_is_named():
    configs = grid_configs(inits=['dinov2', 'mae'], sizes=['b'],
                           schedules=['100e'])
    assert names(configs) == ['mae_vitb_maskrcnn_100e',
                              'dinov2_vitb_maskrcnn_100e']
    assert configs[1].parent.name == 'dinov2'


def test_a_slice_by_init_size_and_schedule():
    configs = grid_configs(inits=['mae', 'beit'], sizes=['b'],
                           schedules=['25e', '50'])
    assert names(configs) == [
        'beit_vitb_maskrcnn_25e', 'beit_vitb_maskrcnn_50e',
        'mae_vitb_maskrcnn_25e', 'mae_vitb_maskrcnn_50e']


def test_a_value_outside_the_grid_is_named_with_what_there_is():
    with pytest.raises(UserInputError,
                       match=r"for init \['moco'\]; inits there: beit, "
                       r'beitv2, clip, deit3, dinov2, dinov2_reg4, dinov3, '
                       r'eva02, mae, mocov3, random, sam, siglip, '
                       r'supervised'):
        grid_configs(inits=['moco'])
    # Random init was never run at 25 epochs.
    with pytest.raises(UserInputError, match=r"for init \['random'\], "
                       r'epochs \[25\] together'):
        grid_configs(inits=['random'], schedules=['25e'])
    with pytest.raises(UserInputError, match="schedule 'long' is not"):
        grid_configs(schedules=['long'])


def test_direct_pretraining_is_stage1_handoff_stage2():
    run, = plan_runs([CONFIG_ROOT / 'direct/maskrcnn_vitb_direct_stage2.py'])
    assert run.name == 'maskrcnn_vitb_direct'
    stage1, handoff, stage2 = run.stages
    assert stage1 == TrainStage(
        'maskrcnn_vitb_direct_stage1',
        CONFIG_ROOT / 'direct/maskrcnn_vitb_direct_stage1.py')
    assert handoff == HandoffStage('maskrcnn_vitb_direct_handoff',
                                   stage1.name, 'maskrcnn_vitb_direct')
    assert stage2.inputs == {'load_from': handoff.name}
    assert stage2.name == run.name
    with pytest.raises(UserInputError, match='stage 1 of direct '
                       'pre-training; give its stage 2'):
        plan_runs([CONFIG_ROOT / 'direct/maskrcnn_vitb_direct_stage1.py'])


def test_any_config_is_one_run(tmp_path):
    itpn, mae = plan_runs([CONFIG_ROOT / 'itpn_b_pixel_maskrcnn_1x.py',
                           CONFIG_ROOT / 'mae_vitb_maskrcnn_25e.py',
                           CONFIG_ROOT / 'mae_vitb_maskrcnn_25e.py'])
    assert itpn.name == 'itpn_b_pixel_maskrcnn_1x'
    assert [s.name for s in mae.stages] == ['mae_vitb_maskrcnn_25e']
    (tmp_path / 'mae_vitb_maskrcnn_25e.py').write_text('')
    with pytest.raises(UserInputError, match="two configs make the run "
                       "'mae_vitb_maskrcnn_25e'"):
        plan_runs([CONFIG_ROOT / 'mae_vitb_maskrcnn_25e.py',
                   tmp_path / 'mae_vitb_maskrcnn_25e.py'])
    with pytest.raises(UserInputError, match='does not exist'):
        plan_runs([tmp_path / 'missing.py'])


def test_protocols_and_detectors_are_axes_of_the_grid():
    configs = grid_configs(inits=['mae', 'dinov2'], sizes=['b'],
                           schedules=['100e'], protocols=['full', 'frozen'],
                           detectors=['mask_rcnn', 'cascade', 'faster_rcnn'])
    # Each init's variants together; no frozen cascade or Faster R-CNN
    # config, so none runs.
    assert [f'{p.parent.name}/{p.stem}' for p in configs] == [
        'configs/mae_vitb_maskrcnn_100e',
        'cascade/mae_vitb_cascade_maskrcnn_100e',
        'faster/mae_vitb_fasterrcnn_100e',
        'frozen/mae_vitb_frozen_maskrcnn_100e',
        'dinov2/dinov2_vitb_maskrcnn_100e',
        'cascade/dinov2_vitb_cascade_maskrcnn_100e',
        'faster/dinov2_vitb_fasterrcnn_100e',
        'frozen/dinov2_vitb_frozen_maskrcnn_100e']
    # The paper's grid under another detector: its 100-epoch cells.
    assert names(grid_configs(sizes=['l'], detectors=['cascade'])) == [
        f'{init}_vitl_cascade_maskrcnn_100e'
        for init in ('random', 'supervised', 'mocov3', 'beit', 'mae')]


def test_a_protocol_or_detector_without_configs_is_one_line():
    with pytest.raises(UserInputError,
                       match=r'^no frozen config in .* for the selected '
                       r'inits, sizes and schedules; frozen configs there: '
                       r'dinov2_vitb_frozen_maskrcnn_100e, '
                       r'mae_vitb_frozen_maskrcnn_100e$'):
        grid_configs(inits=['beit'], protocols=['frozen'])
    with pytest.raises(UserInputError,
                       match=r"protocol \['frozen'\], detector \['cascade'\] "
                       r'together; protocol\+detector there: '
                       r'full\+mask_rcnn, full\+cascade, full\+faster_rcnn, '
                       r'frozen\+mask_rcnn$'):
        grid_configs(protocols=['frozen'], detectors=['cascade'])
    with pytest.raises(UserInputError, match=r"^unknown detector "
                       r"\['retinanet'\]; detectors: mask_rcnn, cascade, "
                       r'faster_rcnn$'):
        grid_configs(detectors=['retinanet'])


def test_seeds_make_one_run_per_seed_sharing_the_stages_before():
    mae, direct = plan_runs([
        CONFIG_ROOT / 'mae_vitb_maskrcnn_25e.py',
        CONFIG_ROOT / 'direct/maskrcnn_vitb_direct_stage2.py'])
    assert seeded_runs([mae]) == [mae]
    runs = seeded_runs([mae, direct], [0, 2])
    assert [r.name for r in runs] == [
        'mae_vitb_maskrcnn_25e_seed0', 'mae_vitb_maskrcnn_25e_seed2',
        'maskrcnn_vitb_direct_seed0', 'maskrcnn_vitb_direct_seed2']
    assert runs[1].stages == (TrainStage(
        'mae_vitb_maskrcnn_25e_seed2', mae.config,
        {'randomness.seed': 2}), )
    stage1, handoff, stage2 = runs[3].stages
    assert stage1 == direct.stages[0] == runs[2].stages[0]
    assert handoff.name == direct.stages[1].name
    assert handoff.stage2 == stage2.name == 'maskrcnn_vitb_direct_seed2'
    assert stage2.inputs == {'load_from': handoff.name}
    assert stage2.cfg_options == {'randomness.seed': 2}
    for seeds in ([0, 0], [-1], []):
        with pytest.raises(UserInputError, match='seeds must be distinct'):
            seeded_runs([mae], seeds)
