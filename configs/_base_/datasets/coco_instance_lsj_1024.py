# COCO instances with large-scale jitter at 1024 (paper section 2.3): resize
# by s ~ U(0.1, 2.0), random crop or pad to 1024x1024, flip. Test: long side
# 1024, padded to 1024x1024. Both pad with the pixel that the model's
# data_preprocessor normalises to 0 (its mean), which the package's runner
# fills in from each config's own normalisation (fill_pad_values in
# mmdet_vit_transfer/datasets/pipeline_configs.py), as BatchFixedSizePad
# pads with 0 after it.
_base_ = 'mmdet::_base_/datasets/coco_instance.py'

image_size = (1024, 1024)

# Masks stay polygons until the mask head rasterises them inside each RoI
# (LoadPolygonAnnotations; images with an RLE mask get bitmaps, as mmdet
# gives them). LargeScaleJitter is mmdet's RandomResize -> RandomCrop ->
# FilterAnnotations -> pad chain in one pass that resizes only the pixels
# the crop keeps (docs/data_pipeline.md). It keeps images that the crop
# leaves empty. Flipping the source first is cheaper and gives the same
# distribution.
train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='LoadPolygonAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='LargeScaleJitter', scale=image_size, ratio_range=(0.1, 2.0)),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    # PadToSize, not Pad: img_shape stays the image's own, so predictions
    # are clipped to the image rather than to the padding.
    dict(type='PadToSize', size=image_size),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor')),
]

# Bad annotations and images: clear errors or counted skips
# (docs/robustness.md). A test image that cannot be loaded stops the run, or
# with `on_unreadable_image='skip'` in the dataset is left out of the
# evaluation, which says how many images it evaluated.
train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    dataset=dict(type='ValidatedCocoDataset', pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(type='ValidatedCocoDataset', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='ValidatedCocoMetric')
test_evaluator = val_evaluator
