"""Speech Commands data: sources, splits, silence, unknown and augmentation.

Every source ends as `Corpus`: int16 clips of exactly 1 s at 16 kHz per split,
label indices into `DataConfig.labels` (`_silence_`, `_unknown_`, words...),
and the background noise used for `_silence_` clips and training noise.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import pathlib
from typing import Any

import numpy as np
import tensorflow as tf
from lstm_keras_datasets import speech_synth

from .audio import CLIP_SAMPLES, load_clip, read_audio, resample
from .config import SILENCE_LABEL, UNKNOWN_LABEL, SpeechConfig

SPLITS = ("train", "validation", "test")
_SPLIT_SEEDS = {"train": 11, "validation": 12, "test": 13}


@dataclasses.dataclass
class Corpus:
    """Clips in memory (int16 halves the memory of float32)."""

    labels: tuple[str, ...]
    clips: dict[str, np.ndarray]  # split -> int16 [clips, 16000]
    targets: dict[str, np.ndarray]  # split -> int32 [clips]
    background: np.ndarray  # float32 [noise files, samples]
    source: str
    root: str | None = None

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            split: {
                label: int(np.sum(self.targets[split] == index))
                for index, label in enumerate(self.labels)
            }
            for split in SPLITS
        }


def _to_int16(clip: np.ndarray) -> np.ndarray:
    return np.round(np.clip(clip, -1.0, 1.0) * 32767).astype(np.int16)


def _load_files(paths: list[pathlib.Path], description: str) -> np.ndarray:
    from tqdm.auto import tqdm

    clips = np.zeros((len(paths), CLIP_SAMPLES), np.int16)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        loaded = pool.map(load_clip, paths)
        for index, clip in enumerate(tqdm(loaded, total=len(paths), desc=description)):
            clips[index] = _to_int16(clip)
    return clips


def _read_background(root: pathlib.Path) -> np.ndarray:
    """`_background_noise_/*.wav` at 16 kHz, cut to the shortest file."""
    folder = root / "_background_noise_"
    files = sorted(folder.glob("*.wav")) if folder.is_dir() else []
    if not files:
        raise ValueError(f"No background noise: {folder} has no .wav files.")
    noises = []
    for path in files:
        samples, rate = read_audio(path)
        samples = resample(samples, rate)
        if samples.size < CLIP_SAMPLES:
            raise ValueError(f"Background noise shorter than 1 s: {path}")
        noises.append(samples.astype(np.float32))
    length = min(noise.size for noise in noises)
    return np.stack([noise[:length] for noise in noises])


def _silence_clips(background: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Random 1 s cuts of background noise at random gains, some all-zero."""
    rng = np.random.default_rng(seed)
    clips = np.zeros((count, CLIP_SAMPLES), np.float32)
    for index in range(count):
        if rng.uniform() < 0.1:
            continue  # digital silence
        noise = background[rng.integers(len(background))]
        start = rng.integers(0, noise.size - CLIP_SAMPLES + 1)
        segment = noise[start : start + CLIP_SAMPLES]
        peak = np.abs(segment).max() + 1e-12
        clips[index] = segment / peak * rng.uniform(0.002, 0.5)
    return clips


def _read_list(path: pathlib.Path) -> set[str]:
    if not path.is_file():
        raise ValueError(
            f"Not a Speech Commands folder: {path.name} is missing in {path.parent}"
        )
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def _balance(
    labels: tuple[str, ...],
    word_targets: np.ndarray,
    config: SpeechConfig,
    seed: int,
    training: bool,
) -> tuple[np.ndarray, int]:
    """Indices kept after capping `_unknown_`, and the `_silence_` count."""
    rng = np.random.default_rng(seed)
    unknown = labels.index(UNKNOWN_LABEL)
    word_counts = [np.sum(word_targets == i) for i in range(2, len(labels))]
    mean_word = float(np.mean(word_counts)) if word_counts else 0.0
    unknown_indices = np.flatnonzero(word_targets == unknown)
    # Validation and test stay balanced (like the standard v2-12 test set).
    unknown_fraction = config.data.unknown_fraction if training else 1.0
    silence_fraction = config.data.silence_fraction if training else 1.0
    cap = int(round(unknown_fraction * mean_word))
    if unknown_indices.size > cap:
        unknown_indices = rng.choice(unknown_indices, cap, replace=False)
    keep = np.sort(
        np.concatenate([np.flatnonzero(word_targets != unknown), unknown_indices])
    )
    return keep, int(round(silence_fraction * mean_word))


def load_folder(root: str | pathlib.Path, config: SpeechConfig, source: str) -> Corpus:
    """Reads the Speech Commands layout: word folders, split lists, noise."""
    root = pathlib.Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"Speech Commands folder not found: {root}")
    labels = config.data.labels
    validation = _read_list(root / "validation_list.txt")
    testing = _read_list(root / "testing_list.txt")
    folders = sorted(
        p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))
    )
    missing = [w for w in config.data.words if not (root / w).is_dir()]
    if missing:
        raise ValueError(f"Word folders missing in {root}: {', '.join(missing)}")
    files = {split: [] for split in SPLITS}
    targets = {split: [] for split in SPLITS}
    for folder in folders:
        index = labels.index(folder.name) if folder.name in labels else 1
        for path in sorted(folder.glob("*.wav")):
            relative = f"{folder.name}/{path.name}"
            split = "validation" if relative in validation else "train"
            split = "test" if relative in testing else split
            files[split].append(path)
            targets[split].append(index)
    background = _read_background(root)
    corpus = Corpus(labels, {}, {}, background, source, str(root))
    for split in SPLITS:
        split_targets = np.asarray(targets[split], np.int32)
        if not np.any(split_targets >= 2):
            raise ValueError(
                f"The {split} split of {root} holds no clip of the command words."
            )
        keep, num_silence = _balance(
            labels, split_targets, config, _SPLIT_SEEDS[split], split == "train"
        )
        clips = _load_files([files[split][i] for i in keep], f"Reading {split} clips")
        silence = _silence_clips(background, num_silence, _SPLIT_SEEDS[split])
        corpus.clips[split] = np.concatenate([clips, _to_int16(silence)])
        corpus.targets[split] = np.concatenate(
            [
                split_targets[keep],
                np.full(num_silence, labels.index(SILENCE_LABEL), np.int32),
            ]
        )
    return corpus


def load_builtin(config: SpeechConfig) -> Corpus:
    """Generates (once) and reads the synthetic corpus."""
    data = config.data
    synth_config = speech_synth.SynthConfig(
        words=data.words,
        unknown_words=speech_synth.COMMAND_WORDS
        + speech_synth.OTHER_WORDS
        + tuple(w for w in data.extra_unknown if w not in speech_synth.OTHER_WORDS),
        num_speakers=data.num_speakers,
        engines=data.engines,
        flite_speakers=data.flite_speakers,
        piper_speakers=data.piper_speakers,
        room_probability=data.room_probability,
        telephone_probability=data.telephone_probability,
        microphone_probability=data.microphone_probability,
        noise_probability=data.noise_probability,
        snr_db=data.snr_db,
        speed=data.speed,
        level=data.level,
        real_unknown=data.real_unknown,
        repeats=data.repeats,
        unknown_per_speaker=data.unknown_per_speaker,
    )
    root = speech_synth.build(synth_config, cache_dir=data.cache_dir or None)
    return load_folder(root, config, "builtin")


def load_tfds(name: str, config: SpeechConfig) -> Corpus:
    """Prepared TFDS `speech_commands` data; never downloads (fails fast)."""
    import tensorflow_datasets as tfds

    if name.split("/")[0] != "speech_commands":
        raise ValueError(
            f"Unsupported TFDS dataset {name!r}; expected speech_commands."
        )
    try:
        builder = tfds.builder(name, data_dir=config.data.data_dir or None)
        splits = {
            split: builder.as_dataset(split=split, as_supervised=True)
            for split in ("train", "validation", "test")
        }
    except Exception as error:  # TFDS raises many types; all mean "not prepared"
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(
            f"TFDS {name} is not prepared locally (downloads are off; prepare it with "
            f"`tfds build speech_commands` or use folder:PATH): {first_line}"
        ) from None
    tfds_labels = builder.info.features["label"].names
    unknown_words = set(config.data.words) - set(tfds_labels)
    if unknown_words:
        raise ValueError(f"TFDS {name} has no label(s) {sorted(unknown_words)}.")
    labels = config.data.labels
    mapping = np.array(
        [labels.index(n) if n in labels else 1 for n in tfds_labels], np.int32
    )
    corpus = Corpus(
        labels, {}, {}, np.zeros((1, CLIP_SAMPLES), np.float32), f"tfds:{name}"
    )
    for split, dataset in splits.items():
        audio, targets = [], []
        for samples, label in tfds.as_numpy(dataset):
            clip = samples[:CLIP_SAMPLES].astype(np.int16)
            audio.append(np.pad(clip, (0, CLIP_SAMPLES - clip.size)))
            targets.append(mapping[label])
        corpus.clips[split] = np.stack(audio)
        corpus.targets[split] = np.asarray(targets, np.int32)
    return corpus


def load_corpus(config: SpeechConfig) -> Corpus:
    source = config.data.source
    if source == "builtin":
        return load_builtin(config)
    if source.startswith("folder:"):
        return load_folder(source[len("folder:") :], config, source)
    return load_tfds(source[len("tfds:") :], config)


def _augment(waveforms, seed, background, config: SpeechConfig):
    """Random time shift and background noise, batch-wise and stateless."""
    batch = tf.shape(waveforms)[0]
    seeds = tf.random.experimental.stateless_split(seed, 6)
    max_shift = int(config.data.time_shift_ms * 16)
    if max_shift:
        shift = tf.random.stateless_uniform(
            [batch], seeds[0], -max_shift, max_shift + 1, dtype=tf.int32
        )
        padded = tf.pad(waveforms, [[0, 0], [max_shift, max_shift]])
        positions = max_shift - shift[:, None] + tf.range(CLIP_SAMPLES)[None, :]
        waveforms = tf.gather(padded, positions, batch_dims=1)
    if config.data.background_probability > 0 and config.data.background_volume > 0:
        noise = tf.constant(background)
        rows = tf.random.stateless_uniform(
            [batch], seeds[1], 0, noise.shape[0], tf.int32
        )
        starts = tf.random.stateless_uniform(
            [batch], seeds[2], 0, noise.shape[1] - CLIP_SAMPLES + 1, tf.int32
        )
        # Indices into the flattened noise (int64: hours of noise overflow
        # int32). Gathering whole rows first copied every chosen row (64 x
        # 60 s, 245 MB a batch) to keep one second of each: 120 ms a batch
        # on a 2-core CPU, against 13 ms now, beside a 170 ms training step.
        positions = (
            tf.cast(rows, tf.int64)[:, None] * noise.shape[1]
            + tf.cast(starts, tf.int64)[:, None]
            + tf.range(CLIP_SAMPLES, dtype=tf.int64)[None, :]
        )
        segments = tf.gather(tf.reshape(noise, [-1]), positions)
        segments /= tf.reduce_max(tf.abs(segments), axis=1, keepdims=True) + 1e-6
        volume = tf.random.stateless_uniform(
            [batch, 1], seeds[3], 0, config.data.background_volume
        )
        apply = tf.cast(
            tf.random.stateless_uniform([batch, 1], seeds[4])
            < config.data.background_probability,
            tf.float32,
        )
        waveforms = tf.clip_by_value(waveforms + apply * volume * segments, -1.0, 1.0)
    return waveforms


def make_dataset(
    corpus: Corpus, split: str, config: SpeechConfig, training: bool
) -> tf.data.Dataset:
    """Batches of `(float32 waveform [batch, 16000], int32 label [batch])`."""
    clips, targets = corpus.clips[split], corpus.targets[split]
    seed = config.train.seed

    def load(indices):
        waveforms = tf.numpy_function(lambda i: clips[i], [indices], tf.int16)
        waveforms = (
            tf.cast(tf.reshape(waveforms, [-1, CLIP_SAMPLES]), tf.float32) / 32768.0
        )
        return waveforms, tf.gather(targets, indices)

    indices = tf.data.Dataset.range(len(targets))
    if training:
        indices = indices.shuffle(
            len(targets), seed=seed, reshuffle_each_iteration=True
        )
    dataset = indices.batch(config.train.batch_size).map(
        load, num_parallel_calls=tf.data.AUTOTUNE
    )
    if training:
        seeds = tf.data.Dataset.random(
            seed=seed, rerandomize_each_iteration=True
        ).batch(2)
        dataset = tf.data.Dataset.zip((dataset, seeds)).map(
            lambda batch, pair: (
                _augment(batch[0], pair, corpus.background, config),
                batch[1],
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


@dataclasses.dataclass
class SpeechInfo:
    """What the model, serving and evaluation need besides the batches."""

    labels: tuple[str, ...]
    counts: dict[str, dict[str, int]]
    source: str
    root: str | None
    # A few real clips per split (float32 [n, 16000]) for normalization
    # statistics, warmup requests and export checks.
    samples: dict[str, np.ndarray]
    summary: dict[str, Any]
    # The most frequent training label: the `majority` baseline's answer.
    majority_label: int


def summary(corpus: Corpus) -> dict[str, Any]:
    counts = corpus.counts()
    return {
        "source": corpus.source,
        "root": corpus.root,
        "labels": list(corpus.labels),
        "clips": {split: int(sum(c.values())) for split, c in counts.items()},
        "per_label": counts,
    }


def sample_clips(corpus: Corpus, split: str, count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    clips = corpus.clips[split]
    indices = np.sort(rng.choice(len(clips), min(count, len(clips)), replace=False))
    return clips[indices].astype(np.float32) / 32768.0
