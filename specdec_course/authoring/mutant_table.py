"""The mutation table: realistic student bugs for each day, applied by ``mutants.py``.

Each entry: the day, the ``solutions/specdec`` module, the student bug in words, then the code
snippet (exactly once in the module: code lines, never the TODO comments) and its buggy
replacement. Keep at least four per day of Weeks 1-2; ``tests/course/test_mutants.py`` checks
that every snippet is still in the reference.

May import: nothing of ours.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    """One student bug: replace ``find`` (unique in ``module``) by ``replace``."""

    day: str
    module: str
    find: str
    replace: str
    bug: str


def M(day: str, module: str, bug: str, find: str, replace: str) -> Mutant:  # noqa: N802
    """Table shorthand, bug first so each entry reads as a sentence."""
    return Mutant(day, module, find, replace, bug)


# fmt: off
MUTANTS: tuple[Mutant, ...] = (
    # ---- w1d1 ----------------------------------------------------------------------------
    M("w1d1", "sampling", "multiplies the logits by T instead of dividing",
      "keepdims=True)) / temperature",
      "keepdims=True)) * temperature"),
    M("w1d1", "sampling", "ignores the temperature",
      "keepdims=True)) / temperature",
      "keepdims=True))"),
    M("w1d1", "sampling", "no max-subtraction: overflows for large logits",
      "shifted = (x - mx.max(x, axis=-1, keepdims=True)) / temperature",
      "shifted = x / temperature"),
    M("w1d1", "sampling", "does the softmax in the input dtype (bf16/fp16)",
      "x = logits.astype(mx.float32)",
      "x = logits"),
    M("w1d1", "sampling", "T = 0 takes the argmax over the wrong axis",
      "mx.argmax(x, axis=-1, keepdims=True)",
      "mx.argmax(x, axis=0, keepdims=True)"),
    M("w1d1", "sampling", "passes probabilities where categorical wants logits",
      "mx.random.categorical(mx.log(p / total), key=key)",
      "mx.random.categorical(p / total, key=key)"),
    M("w1d1", "sampling", "ignores the key (not reproducible)",
      "mx.random.categorical(mx.log(p / total), key=key)",
      "mx.random.categorical(mx.log(p / total))"),
    M("w1d1", "sampling", "lets a NaN / infinite temperature through",
      "        or not math.isfinite(temperature)\n",
      ""),
    M("w1d1", "sampling", "sample_token ignores the temperature when sampling",
      "probs = logits_to_probs(logits, temperature)",
      "probs = logits_to_probs(logits, 1.0 if temperature else 0.0)"),
    # ---- w1d2 ----------------------------------------------------------------------------
    M("w1d2", "baseline", "reuses the same key for every token",
      "key, sub = mx.random.split(key)",
      "sub = key"),
    M("w1d2", "baseline", "generates one token too many",
      "if len(result.tokens) == max_tokens:",
      "if len(result.tokens) > max_tokens:"),
    M("w1d2", "baseline", "re-runs the whole sequence every step",
      "logits = model(mx.array([[token]]), cache=cache)",
      "logits = model(mx.array([prompt + result.tokens]))"),
    M("w1d2", "baseline", "does not validate the temperature",
      "temperature = check_temperature(temperature)",
      "temperature = float(temperature)"),
    M("w1d2", "baseline", "drops the EOS token from the output",
      "result.tokens.append(token)\n        if token in stop:\n"
      "            result.finish_reason = \"eos\"\n            break\n",
      "if token in stop:\n            result.finish_reason = \"eos\"\n            break\n"
      "        result.tokens.append(token)\n"),
    M("w1d2", "baseline", "reads the first row of the logits",
      "token = sample_token(logits[0, -1], temperature, key=sub)",
      "token = sample_token(logits[0, 0], temperature, key=sub)"),
    M("w1d2", "baseline", "does not validate max_tokens",
      "    check_count(max_tokens, \"max_tokens\")\n",
      ""),
    # ---- w1d3 ----------------------------------------------------------------------------
    M("w1d3", "decoder", "drafts greedily even at T > 0",
      "token = sample_token(logits, self.temperature, key=sub)",
      "token = sample_token(logits, 0.0, key=sub)"),
    M("w1d3", "decoder", "drafts at T = 1 whatever the temperature",
      "token = sample_token(logits, self.temperature, key=sub)",
      "token = sample_token(logits, 1.0 if self.temperature else 0.0, key=sub)"),
    M("w1d3", "decoder", "the same key for every draft step",
      "            key, sub = _split(key)\n            token = sample_token",
      "            sub = key\n            token = sample_token"),
    M("w1d3", "decoder", "keeps probabilities instead of logits",
      "rows.append(logits)",
      "rows.append(mx.softmax(logits))"),
    M("w1d3", "decoder", "never trims the draft cache",
      "        _rewind(cache, keep)\n        del self._draft_seen[keep:]\n",
      "        del self._draft_seen[keep:]\n"),
    M("w1d3", "decoder", "feeds only the last token after a fully accepted round",
      "pending = context[cache[0].offset :]",
      "pending = context[-1:]"),
    M("w1d3", "decoder", "does not refuse an untrimmable draft cache",
      "        check_trimmable(draft_model, \"draft\")\n",
      ""),
    M("w1d3", "decoder", "does not validate the temperature",
      "self.temperature = check_temperature(temperature)",
      "self.temperature = float(temperature)"),
    M("w1d3", "decoder", "trusts the cache without comparing it with the new context",
      "while keep < limit and self._draft_seen[keep] == context[keep]:",
      "while keep < limit:"),
    # ---- w1d4 ----------------------------------------------------------------------------
    M("w1d4", "verify", "residual max(0, q - p)",
      "residual = mx.maximum(p[n] - q[n], 0.0)",
      "residual = mx.maximum(q[n] - p[n], 0.0)"),
    M("w1d4", "verify", "residual of row 0 at every rejection",
      "residual = mx.maximum(p[n] - q[n], 0.0)",
      "residual = mx.maximum(p[0] - q[0], 0.0)"),
    M("w1d4", "verify", "bonus token drawn from the draft's last row",
      "sample_from_probs(p[k], sample_key)",
      "sample_from_probs(q[k - 1], sample_key)"),
    M("w1d4", "verify", "acceptance ratio q/p instead of p/q",
      "(u * q_x < p_x)",
      "(u * p_x < q_x)"),
    M("w1d4", "verify", "no bonus token after full acceptance",
      "return k, list(draft_tokens) + [sample_from_probs(p[k], sample_key)]",
      "return k, list(draft_tokens)"),
    M("w1d4", "verify", "one uniform shared by every position",
      "u = mx.random.uniform(shape=(k,), key=accept_key)",
      "u = mx.broadcast_to(mx.random.uniform(key=accept_key), (k,))"),
    M("w1d4", "verify", "greedy: counts matches instead of the matching prefix",
      "while n < k and choices[n] == draft_tokens[n]:\n            n += 1",
      "n = sum(c == d for c, d in zip(choices, draft_tokens))"),
    M("w1d4", "verify", "correction drawn from p instead of the residual",
      "residual = mx.maximum(p[n] - q[n], 0.0)",
      "residual = p[n]"),
    M("w1d4", "verify", "counts accepted positions instead of stopping at the first rejection",
      "n = accepted.index(False) if False in accepted else k",
      "n = sum(accepted)"),
    # ---- w1d5 ----------------------------------------------------------------------------
    M("w1d5", "decoder", "never rewinds the target cache",
      "            _rewind(self.target_cache, len(context) - 1)\n",
      ""),
    M("w1d5", "decoder", "does not cap K near max_tokens",
      "k = min(wanted, max_tokens - len(result.tokens) - 1)",
      "k = wanted"),
    M("w1d5", "decoder", "keeps tokens after an accepted EOS",
      "emitted = emitted[: i + 1]",
      "emitted = emitted"),
    M("w1d5", "decoder", "verifies with the key the draft was sampled with",
      "key, verify_key = _split(key)",
      "verify_key = draft_key"),
    M("w1d5", "decoder", "records emitted tokens as accepted",
      "result.record_round(k, n)",
      "result.record_round(k, len(emitted))"),
    # (Not "K = 0 reads row 0": with K = 0 the verify pass has one row, so it is equivalent.)
    M("w1d5", "decoder", "a K = 0 round is not recorded",
      "                result.record_round(0, 0)\n",
      ""),
    M("w1d5", "decoder", "does not reset the caches between generations",
      "        self.draft_cache = make_prompt_cache(self.draft_model)\n"
      "        self.target_cache = make_prompt_cache(self.target_model)\n"
      "        self._draft_seen = []\n",
      ""),
    M("w1d5", "decoder", "verifies the tokens in the wrong order",
      "mx.array([context[-1], *drafts])[None], cache=self.target_cache",
      "mx.array([*drafts, context[-1]])[None], cache=self.target_cache"),
    # ---- w2d1 ----------------------------------------------------------------------------
    M("w2d1", "theory", "E(alpha, K) without the bonus token",
      "return -math.expm1((k + 1) * math.log1p(alpha - 1.0)) / (1.0 - alpha)",
      "return (1 - alpha**k) / (1.0 - alpha)"),
    M("w2d1", "theory", "ignores v",
      "return e / (k * c + v)",
      "return e / (k * c + 1.0)"),
    M("w2d1", "theory", "ties go to the larger K",
      "if s > best_s * (1 + 1e-12):",
      "if s >= best_s:"),
    M("w2d1", "theory", "alpha as token-match probability",
      "return min(1.0, float(np.minimum(p_np, q_np).sum()))",
      "return min(1.0, float((p_np * q_np).sum()))"),
    M("w2d1", "simulator", "simulator accepts with p(x) instead of min(1, p/q)",
      "if rng.random() * q_x < p[token]:",
      "if rng.random() < p[token]:"),
    M("w2d1", "simulator", "the virtual clock forgets the verify pass",
      "spec_ms += k * float(draft_ms) + verify",
      "spec_ms += k * float(draft_ms)"),
    M("w2d1", "simulator", "events of a rejection in the wrong order",
      "events += [Event.REJECTED, Event.CORRECTION]",
      "events += [Event.CORRECTION, Event.REJECTED]"),
    M("w2d1", "simulator", "no BONUS event after full acceptance",
      "            events.append(Event.BONUS)\n",
      ""),
    M("w2d1", "simulator", "does not count the correction/bonus token",
      "tokens += accepted + 1",
      "tokens += accepted"),
    M("w2d1", "simulator", "simulator's residual max(0, q - p)",
      "residual = np.maximum(p - q, 0.0)",
      "residual = np.maximum(q - p, 0.0)"),
    # ---- w2d2 ----------------------------------------------------------------------------
    M("w2d2", "metrics", "alpha as accepted / drafted (biased)",
      "return total_accepted / (total_accepted + rejections)",
      "return total_accepted / sum(drafted)"),
    M("w2d2", "metrics", "c inverted",
      "return draft / target, verify / target",
      "return target / draft, verify / target"),
    M("w2d2", "metrics", "speedup inverted",
      "measured = spec_tps / base_tps",
      "measured = base_tps / spec_tps"),
    M("w2d2", "metrics", "mean accepted counts the extra token",
      "mean_accepted = sum(accepted) / len(accepted) if accepted else math.nan",
      "mean_accepted = sum(accepted) / len(accepted) + 1 if accepted else math.nan"),
    M("w2d2", "metrics", "accepts a round with more accepted than drafted",
      "        if a > d:\n",
      "        if a > d + 1:\n"),
    M("w2d2", "metrics", "accepts zero seconds",
      "        or value <= 0\n",
      "        or value < 0\n"),
    # ---- w2d3 ----------------------------------------------------------------------------
    M("w2d3", "adaptive", "alpha_hat = accepted / drafted",
      "rejections = sum(1 for n, k in self._rounds if n < k)",
      "rejections = sum(k - n for n, k in self._rounds)"),
    M("w2d3", "adaptive", "decides after every round instead of a full window",
      "if len(self._rounds) == self._window:",
      "if self._rounds:"),
    M("w2d3", "adaptive", "K grows past max_lookahead",
      "return min(self._max, self._k + 1)",
      "return self._k + 1"),
    M("w2d3", "adaptive", "jumps straight to the optimum instead of one step",
      "return self._k + 1 if target > self._k else self._k - 1",
      "return target"),
    M("w2d3", "adaptive", "probes one idle round late",
      "if self._k == 0 and self._idle >= self._window:",
      "if self._k == 0 and self._idle > self._window:"),
    M("w2d3", "adaptive", "lets a NaN rate through",
      "if not 0.0 <= rate <= 1.0:",
      "if rate < 0.0 or rate > 1.0:"),
    M("w2d3", "adaptive", "moves K without the gain margin",
      "if self._predicted(alpha, target) <= (1 + GAIN_MARGIN) * self._predicted(",
      "if self._predicted(alpha, target) <= self._predicted("),
)
# fmt: on
