"""Synthetic evidence that carries its ground truth in its content.

Every file written here is valid by content (real PNG / JPEG headers and data, an MP4 box tree
or FLV header, a protobuf message) and embeds a small JSON *truth* tagged ``kycmux-truth`` near
its start: who the capture shows, whether it is live, what was said... Any simulator reads it
back with ``read_truth`` and decides deterministically, scoring with the shared
``match_strength`` / ``attack_strength`` basis; ``match_rank`` and a ``ScoreModel`` turn a
match into a score that follows a vendor's published false-accept table over the synthetic
population. See ``docs/synthetic.md``.
"""

from __future__ import annotations

from kycmux.synthetic._demo import DEMO_DIGITS, DemoSet, demo_truths, write_demo_set
from kycmux.synthetic._embed import TAG
from kycmux.synthetic._image import image_bytes, write_image
from kycmux.synthetic._liveness import liveness_data_bytes, write_liveness_data
from kycmux.synthetic._population import Person, Population, RegistryStatus, id_number_for
from kycmux.synthetic._rank import (
    ATTACK_DIFFICULTY,
    GENUINE_DIFFICULTY,
    DifficultyMix,
    MatchRank,
    match_rank,
)
from kycmux.synthetic._read import HEAD_SIZE, read_truth, read_truth_file
from kycmux.synthetic._scoremodel import ScoreModel, TailCurve
from kycmux.synthetic._strength import attack_strength, jitter, match_strength
from kycmux.synthetic._truth import (
    Audio,
    Faces,
    ImageQuality,
    ImageTruth,
    Lips,
    Liveness,
    LivenessDataTruth,
    Truth,
    VideoTruth,
    truth_from_json,
)
from kycmux.synthetic._video import video_bytes, write_video

__all__ = [
    "ATTACK_DIFFICULTY",
    "DEMO_DIGITS",
    "GENUINE_DIFFICULTY",
    "HEAD_SIZE",
    "TAG",
    "Audio",
    "DemoSet",
    "DifficultyMix",
    "Faces",
    "ImageQuality",
    "ImageTruth",
    "Lips",
    "Liveness",
    "LivenessDataTruth",
    "MatchRank",
    "Person",
    "Population",
    "RegistryStatus",
    "ScoreModel",
    "TailCurve",
    "Truth",
    "VideoTruth",
    "attack_strength",
    "demo_truths",
    "id_number_for",
    "image_bytes",
    "jitter",
    "liveness_data_bytes",
    "match_rank",
    "match_strength",
    "read_truth",
    "read_truth_file",
    "truth_from_json",
    "video_bytes",
    "write_demo_set",
    "write_image",
    "write_liveness_data",
    "write_video",
]
