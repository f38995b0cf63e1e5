"""Translation quality (sacreBLEU BLEU and chrF) and the attention heatmap."""

from __future__ import annotations

import sacrebleu


def score_translations(hypotheses: list[str], references: list[str]) -> dict:
    """Corpus BLEU and chrF on detokenized text, sacreBLEU's default settings."""
    if len(hypotheses) != len(references):
        raise ValueError(
            f"{len(hypotheses)} hypotheses for {len(references)} references."
        )
    bleu_metric, chrf_metric = sacrebleu.BLEU(), sacrebleu.CHRF()
    bleu = bleu_metric.corpus_score(hypotheses, [references])
    chrf = chrf_metric.corpus_score(hypotheses, [references])
    return {
        "bleu": round(bleu.score, 2),
        "chrf": round(chrf.score, 2),
        "bleu_signature": str(bleu_metric.get_signature()),
        "sentences": len(hypotheses),
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
