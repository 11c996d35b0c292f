"""Shared detection core (no Qt): post-processing with torchvision.ops, letterboxing, COCO evaluation
with pycocotools, and the training loop every detector tab runs in its worker."""
