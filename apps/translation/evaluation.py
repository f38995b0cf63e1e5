"""Translation quality (sacreBLEU BLEU and chrF) and the attention heatmap."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import sacrebleu

# sacreBLEU's bootstrap resamples for confidence intervals and the paired test.
N_BOOTSTRAP = 1000
# Test sentences shown in metrics.json (and the first 4 in the attention plot).
SAMPLES = 10
EVALUATION_BATCH = 64


def evaluate(module, test_pairs, run) -> dict[str, dict[str, Any]]:
    """`App.evaluate` for translation: greedy and beam search on the test split.

    Runs the serving module's own decoders (what the export serves), so the
    scores are the export's. Writes `run.plots/attention.png` and every test
    translation to `run.root/test_translations.tsv`.
    """
    sources = [source for source, _ in test_pairs]
    references = [target for _, target in test_pairs]
    results, outputs = {}, {}
    for name, function in (
        ("greedy", module.translate_greedy),
        ("beam", module.translate),
    ):
        hypotheses, scores = translate_in_batches(function, sources)
        outputs[name] = hypotheses
        results[name] = {
            **score_translations(hypotheses, references),
            "mean_log_prob": float(np.mean(scores)),
            "samples": [
                {"source": s, "reference": r, "translation": h}
                for s, r, h in zip(
                    sources[:SAMPLES], references, hypotheses, strict=False
                )
            ],
        }
    # Is beam search's gain over greedy more than test-set luck?
    results["beam"]["paired_test_vs_greedy"] = paired_test(
        outputs["greedy"], outputs["beam"], references
    )
    attention_plot(module, sources[:4], os.path.join(run.plots, "attention.png"))
    with open(os.path.join(run.root, "test_translations.tsv"), "w") as file:
        file.write("source\treference\tgreedy\tbeam\n")
        rows = zip(sources, references, outputs["greedy"], outputs["beam"], strict=True)
        for row in rows:
            file.write("\t".join(" ".join(text.split()) for text in row) + "\n")
    return results


def translate_in_batches(function, sentences: list[str]) -> tuple[list[str], list]:
    """Runs a serving function over `sentences`; returns texts and scores."""
    import tensorflow as tf

    hypotheses, scores = [], []
    for start in range(0, len(sentences), EVALUATION_BATCH):
        outputs = function(tf.constant(sentences[start : start + EVALUATION_BATCH]))
        hypotheses += [t.decode("utf-8") for t in outputs["translations"].numpy()]
        scores += outputs["scores"].numpy().tolist()
    return hypotheses, scores


def score_translations(
    hypotheses: list[str], references: list[str], n_bootstrap: int = N_BOOTSTRAP
) -> dict:
    """Corpus BLEU and chrF on detokenized text, sacreBLEU's default settings.

    With `n_bootstrap > 1`, also sacreBLEU's bootstrap estimate of BLEU's 95%
    confidence interval (`bleu_ci95`: mean - ci, mean + ci over resampled
    test sets, Koehn 2004).
    """
    if len(hypotheses) != len(references):
        raise ValueError(
            f"{len(hypotheses)} hypotheses for {len(references)} references."
        )
    bleu_metric, chrf_metric = sacrebleu.BLEU(), sacrebleu.CHRF()
    bleu = bleu_metric.corpus_score(hypotheses, [references])
    chrf = chrf_metric.corpus_score(hypotheses, [references])
    scores = {
        "bleu": round(bleu.score, 2),
        "chrf": round(chrf.score, 2),
        "bleu_signature": str(bleu_metric.get_signature()),
        "sentences": len(hypotheses),
    }
    if n_bootstrap > 1:
        # A fresh metric: corpus_score with n_bootstrap records it in the signature.
        resampled = sacrebleu.BLEU().corpus_score(
            hypotheses, [references], n_bootstrap=n_bootstrap
        )
        scores["bleu_ci95"] = [
            round(resampled._mean - resampled._ci, 2),
            round(resampled._mean + resampled._ci, 2),
        ]
        scores["bleu_bootstrap_samples"] = n_bootstrap
    return scores


def paired_test(
    baseline: list[str],
    system: list[str],
    references: list[str],
    n_samples: int = N_BOOTSTRAP,
) -> dict:
    """sacreBLEU's paired bootstrap resampling test of `system` against `baseline`.

    Returns both BLEU scores, their difference and the p-value of the null
    hypothesis that the two systems score the same (sacreBLEU's `--paired-bs`,
    Koehn 2004; two-sided, on the absolute BLEU difference, as Moses'
    `bootstrap-hypothesis-difference-significance.pl`). Identical outputs get
    p = 1 (sacreBLEU's strict count would give 1 / (n + 1)).
    """
    from sacrebleu.significance import PairedTest

    test = PairedTest(
        [("baseline", baseline), ("system", system)],
        {"BLEU": sacrebleu.BLEU()},
        [references],
        test_type="bs",
        n_samples=n_samples,
    )
    signatures, scores = test()
    base, other = scores["BLEU"]
    p_value = 1.0 if list(baseline) == list(system) else float(other.p_value)
    return {
        "test": "paired bootstrap resampling (sacrebleu --paired-bs)",
        "samples": n_samples,
        "baseline_bleu": round(base.score, 2),
        "system_bleu": round(other.score, 2),
        "bleu_difference": round(other.score - base.score, 2),
        "p_value": round(p_value, 4),
        "signature": str(signatures["BLEU"]),
    }


def attention_plot(module, sentences: list[str], path: str) -> None:
    """Plots greedy-decoding attention weights (target x source pieces)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import tensorflow as tf

    from .decoding import greedy_decode
    from .tokenizer import EOS_ID, PAD_ID

    source_ids = module.source_ids(tf.constant(sentences))
    tokens, _, attention = greedy_decode(
        module.translator, source_ids, module._max_decode_length
    )
    source_pieces = module.source_tokenizer.id_to_string(source_ids).numpy()
    target_pieces = module.target_tokenizer.id_to_string(tokens).numpy()
    figure, axes = plt.subplots(
        1, len(sentences), figsize=(5 * len(sentences), 5), squeeze=False
    )
    for row, axis in enumerate(axes[0]):
        source_length = int(tf.reduce_sum(tf.cast(source_ids[row] != PAD_ID, tf.int32)))
        target = tokens[row].numpy().tolist()
        target_length = target.index(EOS_ID) + 1 if EOS_ID in target else len(target)
        weights = attention[row, :target_length, :source_length].numpy()
        axis.imshow(weights, cmap="viridis", aspect="auto", vmin=0, vmax=1)
        axis.set_xticks(range(source_length))
        axis.set_xticklabels(
            [p.decode() for p in source_pieces[row][:source_length]],
            rotation=90,
            fontsize=7,
        )
        axis.set_yticks(range(target_length))
        axis.set_yticklabels(
            [p.decode() for p in target_pieces[row][:target_length]], fontsize=7
        )
        axis.set_xlabel("source pieces")
    axes[0][0].set_ylabel("translation pieces (greedy)")
    figure.suptitle("Attention weights")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
