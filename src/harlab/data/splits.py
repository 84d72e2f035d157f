"""Train/validation/test protocols.

* ``random`` - the paper protocol: windows are split at random (sklearn
  ``train_test_split``). With overlapping windows this leaks neighbouring samples from
  train into test; a leakage warning is returned and shown with the results.
* ``subject`` - subject-wise: ``folds`` subject groups (``GroupKFold``) or ``loso``
  (leave-one-subject-out), or explicit ``test_subjects``; validation subjects are drawn
  from the training subjects (``GroupShuffleSplit``), never from test subjects.
* ``session`` - train and test on different sessions of the same subjects (what person
  identification needs); validation is the last ``val_fraction`` of each training
  recording in time, and windows straddling that cut are discarded. Where recordings are
  too short for that (one window each, e.g. one radar frame per recording with
  repetitions as sessions), validation is whole training recordings instead:
  ``val_fraction`` of each activity x subject's, drawn where it has two or more.
* ``recording`` - whole source recordings, identified by (subject, session), are drawn at
  random for test (``test_fraction``) and validation (``val_fraction`` of the rest) with
  ``GroupShuffleSplit``: no window or frame of a test recording is seen in training, yet
  every person can appear in all parts (what identification needs). Use it for pre-framed
  data whose frames overlap in time, e.g. radar frames (session = radar recording).
* ``given`` - a dataset's official subject split; validation subjects from training.
  Datasets whose official split is per recording (OPPORTUNITY: ``meta["official_split"]``
  of each recording, "train"/"test"/None) are split by recording instead: validation is
  whole training recordings drawn with ``GroupShuffleSplit``; recordings in neither part
  are left out (counted in the description).

Assignment is per recording (or per window for ``random``), so the same seed always
gives the same split.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.model_selection import (
    GroupKFold,
    GroupShuffleSplit,
    LeaveOneGroupOut,
    StratifiedGroupKFold,
    train_test_split,
)

from harlab.config import SplitConfig
from harlab.data.recording import Recording, RecordingMeta
from harlab.data.windows import Windows
from harlab.errors import ConfigError
from harlab.fileio import natural_key


@dataclass
class Split:
    """Window indices per part, a human description and any protocol warnings."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    description: str
    warnings: list[str] = field(default_factory=list)
    subjects: dict[str, list[str]] = field(default_factory=dict)
    dropped: int = 0


def _source_keys(recordings: list[Recording] | list[RecordingMeta]) -> np.ndarray:
    """One integer key per harlab recording naming its source recording (subject, session);
    keys follow the sorted order of those pairs, so seeded group draws are stable."""
    keys = [f"{r.subject}\x1f{r.session}" for r in recordings]
    return np.unique(keys, return_inverse=True)[1].reshape(-1).astype(np.int64)


def _windows_sharing_a_source(
    windows: Windows, recordings: list[Recording] | list[RecordingMeta]
) -> int:
    """Windows of pre-cut data (one window per recording) whose source recording
    (subject, session) gave several of them: their neighbours may overlap in time."""
    keys = _source_keys(recordings)
    per_rec = np.bincount(windows.recording, minlength=len(recordings))
    single = per_rec == 1
    if not single.any():
        return 0
    _, inverse, counts = np.unique(keys[single], return_inverse=True, return_counts=True)
    shared = np.zeros(len(recordings), bool)
    shared[np.flatnonzero(single)] = counts[inverse] > 1
    return int(shared[windows.recording].sum())


def _group_keys(
    windows: Windows, recordings: list[Recording] | list[RecordingMeta], group_by: str | None
) -> tuple[np.ndarray, str]:
    """One integer group per window, and what the groups are, for ``split.group_by``."""
    if group_by is None:
        return _source_keys(recordings)[windows.recording], "source recordings (subject, session)"
    if group_by == "window":
        return np.arange(len(windows), dtype=np.int64), "single windows"
    missing = [i for i, r in enumerate(recordings) if group_by not in r.meta]
    if missing:
        have = sorted({k for r in recordings for k in r.meta})
        raise ConfigError(f"split.group_by={group_by!r}: {len(missing)} of {len(recordings)} "
                          f"recordings have no such field (their fields: "
                          f"{', '.join(have) or 'none'})")
    values = np.array([str(r.meta[group_by]) for r in recordings])
    return np.unique(values, return_inverse=True)[1].reshape(-1)[windows.recording], group_by


def _recording_split(
    windows: Windows, recordings: list[Recording] | list[RecordingMeta], cfg: SplitConfig
) -> Split:
    win_key, what = _group_keys(windows, recordings, cfg.group_by)
    if cfg.stratify:
        return _stratified_split(windows, recordings, cfg, win_key, what)
    groups = np.unique(win_key)
    if len(groups) < 3:
        raise ConfigError(
            f"split.kind=recording needs at least 3 {what}; found {len(groups)}"
        )
    idx = np.arange(len(windows))
    gss = GroupShuffleSplit(n_splits=1, test_size=cfg.test_fraction, random_state=cfg.seed)
    trval, test = next(gss.split(idx, groups=win_key))
    val = np.zeros(0, np.int64)
    if cfg.val_fraction > 0 and len(np.unique(win_key[trval])) >= 2:
        gss = GroupShuffleSplit(n_splits=1, test_size=cfg.val_fraction, random_state=cfg.seed)
        tr, va = next(gss.split(trval, groups=win_key[trval]))
        trval, val = trval[tr], trval[va]
    n_rec = {
        k: len(np.unique(win_key[v])) for k, v in (("train", trval), ("val", val), ("test", test))
    }
    return Split(
        np.sort(trval),
        np.sort(val),
        np.sort(test),
        f"recording-wise random split: {n_rec['train']} train / {n_rec['val']} val / "
        f"{n_rec['test']} test {what}, seed {cfg.seed}",
        _group_warnings(windows, recordings, cfg),
    )


def _group_warnings(
    windows: Windows, recordings: list[Recording] | list[RecordingMeta], cfg: SplitConfig
) -> list[str]:
    """A leakage warning where single windows are split but come from one source recording."""
    if cfg.group_by != "window":
        return []
    shared = _windows_sharing_a_source(windows, recordings) or (
        len(windows) if windows.step < windows.length else 0)
    if not shared:
        return []
    return [f"LEAKAGE: the split groups single windows, and {shared} windows share a source "
            "recording with others (radar frames of one recording overlap in time), so test "
            "windows have near-copies in training. This reproduces the paper protocol; its "
            "scores are optimistic. Group by recording (no split.group_by) for an honest "
            "estimate."]


def _stratified_split(
    windows: Windows, recordings: list[Recording] | list[RecordingMeta], cfg: SplitConfig,
    groups: np.ndarray, what: str,
) -> Split:
    """K-fold over groups, stratified by activity x person (scikit-learn's
    StratifiedGroupKFold); validation = one inner stratified group fold of the training
    groups (1 / val_fraction of them), so no group straddles two parts."""
    k = int(cfg.folds)
    if not 0 <= cfg.fold < k:
        raise ConfigError(f"split.fold must be in 0..{k - 1}, got {cfg.fold}")
    subject = np.unique(np.array([r.subject for r in recordings]), return_inverse=True)[1]
    strat = np.asarray(windows.y, np.int64) * (subject.max() + 1) + subject[windows.recording]
    inner_k = max(2, int(round(1 / cfg.val_fraction))) if cfg.val_fraction > 0 else 0
    n_groups = len(np.unique(groups))
    if n_groups < k * max(inner_k, 1):
        raise ConfigError(f"split.kind=recording with stratify: {n_groups} groups ({what}) are "
                          f"too few for {k} folds"
                          + (f" with an inner validation split of 1/{inner_k}" if inner_k
                             else ""))
    trval, val, test = _stratified_parts(strat, groups, k, inner_k, cfg, what)
    parts = {"train": np.sort(trval), "val": np.sort(val), "test": np.sort(test)}
    counts = " / ".join(f"{len(np.unique(groups[v]))} {p}" for p, v in parts.items())
    rec_subject = np.array([r.subject for r in recordings])
    subjects = {p: sorted(set(rec_subject[windows.recording[v]].tolist()), key=natural_key)
                for p, v in parts.items()}
    return Split(
        parts["train"], parts["val"], parts["test"],
        f"recording-wise stratified {k}-fold cross-validation (activity x person), fold "
        f"{cfg.fold}, seed {cfg.seed}: {counts} groups ({what})"
        + (f"; validation = one inner fold (1/{inner_k}) of the training groups" if inner_k
           else ""),
        _group_warnings(windows, recordings, cfg), subjects,
    )


def _stratified_parts(strat: np.ndarray, groups: np.ndarray, k: int, inner_k: int,
                      cfg: SplitConfig, what: str) -> tuple[np.ndarray, ...]:
    """Train, validation and test positions of one stratified group fold (inner fold for
    validation); scikit-learn's refusal (every activity x person cell smaller than the
    number of folds) as one line."""
    with warnings.catch_warnings():  # "the least populated class has only n members"
        warnings.filterwarnings("ignore", ".*least populated class.*")
        try:
            outer = StratifiedGroupKFold(k, shuffle=True, random_state=cfg.seed)
            trval, test = list(outer.split(strat, strat, groups))[cfg.fold]
            val = np.zeros(0, np.int64)
            if inner_k:
                inner = StratifiedGroupKFold(inner_k, shuffle=True, random_state=cfg.seed)
                tr, va = next(inner.split(trval, strat[trval], groups[trval]))
                trval, val = trval[tr], trval[va]
        except ValueError as exc:
            raise ConfigError(
                f"split.kind=recording with stratify: every activity x person cell has too few "
                f"windows ({what}) for {k} folds"
                + (f" and an inner validation split of 1/{inner_k}" if inner_k else "")
                + f" (scikit-learn: {exc}); use fewer folds or a larger val_fraction"
            ) from None
    return trval, val, test


def _draw_val(groups: np.ndarray, cfg: SplitConfig) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the distinct ``groups`` kept for training and drawn for validation
    (``val_fraction`` of them, at least one if the fraction is > 0 and there are two)."""
    if cfg.val_fraction == 0 or len(groups) < 2:
        return np.arange(len(groups)), np.zeros(0, np.int64)
    n_val = max(1, int(round(cfg.val_fraction * len(groups))))
    gss = GroupShuffleSplit(n_splits=1, test_size=n_val, random_state=cfg.seed)
    return next(gss.split(groups, groups=groups))


def _val_subjects(train_subjects: list[str], cfg: SplitConfig) -> tuple[list[str], list[str]]:
    """Draw validation subjects from the training subjects (at least one if fraction > 0)."""
    if cfg.val_fraction == 0 or len(train_subjects) < 2:
        return train_subjects, []
    groups = np.array(train_subjects)
    tr, va = _draw_val(groups, cfg)
    return sorted(groups[tr].tolist(), key=natural_key), sorted(
        groups[va].tolist(), key=natural_key
    )


def _by_subjects(
    windows: Windows, rec_subject: np.ndarray, parts: dict[str, list[str]]
) -> dict[str, np.ndarray]:
    win_subject = rec_subject[windows.recording]
    return {k: np.flatnonzero(np.isin(win_subject, v)) for k, v in parts.items()}


def make_split(
    windows: Windows,
    recordings: list[Recording] | list[RecordingMeta],
    cfg: SplitConfig,
    official_split: dict[str, str] | None = None,
) -> Split:
    """Assign the windows of ``recordings`` to train/val/test following ``cfg``."""
    if len(windows) == 0:
        longest = max((r.n_samples for r in recordings), default=0)
        if windows.dropped.get("recordings_too_short", 0) == len(recordings):
            raise ConfigError(f"no windows to split: data.window.length is {windows.length} "
                              f"samples but the longest recording has {longest}")
        raise ConfigError(f"no windows to split: every window was dropped ({windows.dropped})")
    if cfg.kind == "random":
        return _random_split(windows, recordings, cfg)
    if cfg.kind == "session":
        return _session_split(windows, recordings, cfg)
    if cfg.kind == "recording":
        return _recording_split(windows, recordings, cfg)
    rec_subject = np.array([r.subject for r in recordings])
    subjects = sorted(set(rec_subject.tolist()), key=natural_key)
    if cfg.kind == "given":
        if not official_split and _has_recording_split(recordings):
            return _given_recordings_split(windows, recordings, cfg)
        if not official_split:
            raise ConfigError("this dataset has no official split; use split.kind=subject")
        test_subjects = [s for s in subjects if official_split.get(s) == "test"]
        train_subjects = [s for s in subjects if official_split.get(s) == "train"]
        desc = "official subject split"
    else:
        test_subjects, desc = _test_subjects(recordings, subjects, cfg)
        train_subjects = [s for s in subjects if s not in set(test_subjects)]
    if not train_subjects or not test_subjects:
        raise ConfigError(f"{desc}: needs at least one training and one test subject")
    train_subjects, val_subjects = _val_subjects(train_subjects, cfg)
    parts = {"train": train_subjects, "val": val_subjects, "test": test_subjects}
    idx = _by_subjects(windows, rec_subject, parts)
    return Split(
        idx["train"], idx["val"], idx["test"], desc, [], {k: list(v) for k, v in parts.items()}
    )


def _random_split(
    windows: Windows, recordings: list[Recording] | list[RecordingMeta], cfg: SplitConfig
) -> Split:
    """The paper protocol: windows drawn at random, with a warning wherever that leaks."""
    idx = np.arange(len(windows))
    trval, test = train_test_split(idx, test_size=cfg.test_fraction, random_state=cfg.seed)
    if cfg.val_fraction > 0:
        train, val = train_test_split(trval, test_size=cfg.val_fraction, random_state=cfg.seed)
    else:
        train, val = trval, np.zeros(0, np.int64)
    warnings = []
    shared = _windows_sharing_a_source(windows, recordings)
    if shared and windows.step >= windows.length:
        warnings.append(
            f"LEAKAGE: {shared} windows come from a source recording that holds several "
            "pre-cut windows (same subject and session); if those overlap in time (radar "
            "frames overlap by 0.36 s) a random split puts shared samples in train and "
            "test. Use split.kind=recording for an honest estimate."
        )
    if windows.step < windows.length:
        overlap = 1 - windows.step / windows.length
        warnings.append(
            f"LEAKAGE: windows overlap by {overlap:.0%} and are split at random, so test "
            "windows share samples with training windows. This reproduces the paper "
            "protocol; its scores are optimistic. Use split.kind=subject for an honest "
            "estimate."
        )
    return Split(
        np.sort(train),
        np.sort(val),
        np.sort(test),
        f"random window split (paper protocol), test {cfg.test_fraction:.0%}, seed {cfg.seed}",
        warnings,
    )


def _test_subjects(
    recordings: list[Recording] | list[RecordingMeta], subjects: list[str], cfg: SplitConfig
) -> tuple[list[str], str]:
    """The subject split's test subjects (given, or fold ``cfg.fold`` of K / LOSO)."""
    if recordings and all(r.meta.get("subject_unknown") for r in recordings):
        raise ConfigError(
            "this dataset does not record which person each recording belongs to, so a "
            "subject-wise split is impossible; use split.kind=given (its official "
            "train/test files) or random"
        )
    if cfg.test_subjects:
        missing = sorted(set(cfg.test_subjects) - set(subjects))
        if missing:
            raise ConfigError(
                f"split.test_subjects {missing} not in the dataset (subjects: {subjects})"
            )
        return list(cfg.test_subjects), f"subject split, test subjects {cfg.test_subjects}"
    groups = np.array(subjects)
    if cfg.folds == "loso":
        splitter: Any = LeaveOneGroupOut()
        n_folds = len(subjects)
    else:
        n_folds = int(cfg.folds)
        if n_folds > len(subjects):
            raise ConfigError(
                f"split.folds={n_folds} but the dataset has only {len(subjects)} subjects"
            )
        splitter = GroupKFold(n_splits=n_folds, shuffle=True, random_state=cfg.seed)
    if not 0 <= cfg.fold < n_folds:
        raise ConfigError(f"split.fold must be in 0..{n_folds - 1}, got {cfg.fold}")
    _, te = list(splitter.split(groups, groups=groups))[cfg.fold]
    desc = (f"subject-wise {'LOSO' if cfg.folds == 'loso' else f'{n_folds}-fold'} "
            f"cross-validation, fold {cfg.fold}, seed {cfg.seed}")
    return groups[te].tolist(), desc


def _has_recording_split(recordings: list[Recording] | list[RecordingMeta]) -> bool:
    return any(r.meta.get("official_split") in ("train", "test") for r in recordings)


def _given_recordings_split(
    windows: Windows, recordings: list[Recording] | list[RecordingMeta], cfg: SplitConfig
) -> Split:
    """Official per-recording split; validation = whole training recordings (seeded)."""
    part = np.array([r.meta.get("official_split") for r in recordings], dtype=object)
    train_recs = np.flatnonzero(part == "train")
    test_recs = np.flatnonzero(part == "test")
    if not train_recs.size or not test_recs.size:
        raise ConfigError(
            "official recording split: the loaded recordings need at least one official "
            f"training and one test recording (got {train_recs.size} and {test_recs.size})"
        )
    tr, va = _draw_val(train_recs, cfg)
    train_recs, val_recs = np.sort(train_recs[tr]), np.sort(train_recs[va])
    rec = np.asarray(windows.recording)
    parts = {"train": train_recs, "val": val_recs, "test": test_recs}
    idx = {k: np.flatnonzero(np.isin(rec, v)) for k, v in parts.items()}
    names = {
        k: [f"{recordings[i].subject}-{recordings[i].session}" for i in v] for k, v in parts.items()
    }
    desc = (
        f"official recording split: test {names['test'][:4]}"
        f"{'...' if len(names['test']) > 4 else ''}, validation recordings {names['val']} "
        f"(seed {cfg.seed})"
    )
    unused = np.flatnonzero(~np.isin(part, ["train", "test"]))
    if unused.size:
        n_win = int(np.isin(rec, unused).sum())
        desc += f"; {unused.size} recordings outside the official split left out ({n_win} windows)"
    subjects = {
        k: sorted({recordings[i].subject for i in v}, key=natural_key) for k, v in parts.items()
    }
    return Split(idx["train"], idx["val"], idx["test"], desc, [], subjects)


def _session_split(
    windows: Windows, recordings: list[Recording] | list[RecordingMeta], cfg: SplitConfig
) -> Split:
    by_subject: dict[str, list[str]] = {}
    for r in recordings:
        by_subject.setdefault(r.subject, [])
        if r.session not in by_subject[r.subject]:
            by_subject[r.subject].append(r.session)
    test_pairs: set[tuple[str, str]] = set()
    for subj, sessions in by_subject.items():
        sessions = sorted(sessions, key=natural_key)
        if len(sessions) < 2:
            continue  # subject with one session only contributes to training
        chosen = [s for s in sessions if cfg.test_sessions and s in cfg.test_sessions]
        if not cfg.test_sessions:
            chosen = [sessions[-1]]
        test_pairs.update((subj, s) for s in chosen)
    if not test_pairs:
        raise ConfigError(
            "session split needs subjects with at least two sessions "
            f"(test_sessions={cfg.test_sessions})"
        )
    rec_is_test = np.array([(r.subject, r.session) in test_pairs for r in recordings])
    win_test = rec_is_test[windows.recording]
    left_out = np.zeros(len(windows), bool)
    if cfg.train_sessions:
        known = sorted({r.session for r in recordings}, key=natural_key)
        missing = [t for t in cfg.train_sessions if t not in known]
        if missing:
            raise ConfigError(
                f"split.train_sessions {missing} not in the dataset (sessions: {known})"
            )
        rec_out = np.array([r.session not in cfg.train_sessions for r in recordings]) & ~rec_is_test
        left_out = rec_out[windows.recording]
    trval = ~win_test & ~left_out
    is_train, is_val, straddle, how = _session_validation(windows, recordings, trval, cfg)
    train_subjects = sorted(by_subject, key=natural_key)
    test_subjects = sorted({s for s, _ in test_pairs}, key=natural_key)
    shown = sorted(test_pairs)[:4]
    more = "..." if len(test_pairs) > 4 else ""
    only = (
        f"; training sessions {cfg.train_sessions} only ({int(left_out.sum())} windows of "
        "other sessions left out)"
        if cfg.train_sessions
        else ""
    )
    return Split(
        np.flatnonzero(is_train),
        np.flatnonzero(is_val),
        np.flatnonzero(win_test),
        f"session split: test sessions {shown}{more} ({len(test_pairs)} subject-sessions); "
        f"validation = {how}{only}",
        [],
        {"train": train_subjects, "val": train_subjects, "test": test_subjects},
        int(straddle.sum()),
    )


def _session_validation(
    windows: Windows, recordings: list[Recording] | list[RecordingMeta], trval: np.ndarray,
    cfg: SplitConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """The session split's (train, validation, straddling) window masks and what the
    validation is: the last ``val_fraction`` of each training recording in time, or, where
    recordings are too short for that tail (one window each, as pre-cut frames are, or a
    cut that leaves training or validation empty), whole training recordings
    (:func:`_whole_recordings_val`)."""
    empty = np.zeros(len(windows), bool)
    if cfg.val_fraction == 0:
        return trval, empty, empty, "none (val_fraction 0)"
    rec_len = np.array([r.n_samples for r in recordings])
    cut = np.floor(rec_len * (1 - cfg.val_fraction)).astype(np.int64)[windows.recording]
    is_val = trval & (windows.start >= cut)
    is_train = trval & (windows.start + windows.length <= cut)
    per_rec = np.bincount(windows.recording[trval], minlength=len(recordings))
    if is_train.any() and is_val.any() and per_rec.max(initial=0) > 1:
        return (is_train, is_val, trval & ~is_val & ~is_train,
                f"last {cfg.val_fraction:.0%} of each training recording")
    is_val = _whole_recordings_val(windows, recordings, trval, cfg)
    return (trval & ~is_val, is_val, empty,
            f"whole training recordings ({cfg.val_fraction:.0%} of each activity x subject's, "
            "drawn where it has two or more; the recordings are too short to cut a "
            "validation tail)")


def _whole_recordings_val(
    windows: Windows, recordings: list[Recording] | list[RecordingMeta], trval: np.ndarray,
    cfg: SplitConfig,
) -> np.ndarray:
    """Validation windows: ``val_fraction`` (at least one) of the training source recordings
    of every activity x subject cell (activity: the window's label and the recording's
    ``activity`` meta field if any) that has two or more (seeded); a source recording is
    the recording's ``recording`` meta field (frames of one radar recording stay together),
    else the harlab recording."""
    source = np.array([f"{r.subject}\x1f{r.session}\x1f{r.meta.get('recording', i)}"
                       for i, r in enumerate(recordings)])[windows.recording]
    subject = np.array([r.subject for r in recordings])[windows.recording]
    rng = np.random.default_rng(cfg.seed)
    is_val = np.zeros(len(windows), bool)
    activity = np.array([str(r.meta.get("activity", "")) for r in recordings])  # label=person
    cells = np.char.add(np.char.add(np.char.add(subject.astype(str), "\x1f"),
                                    activity[windows.recording]), windows.y.astype(str))
    for cell in np.unique(cells[trval]):
        groups = np.unique(source[trval & (cells == cell)])
        if len(groups) < 2:
            continue  # its one recording stays in training
        n_val = max(1, int(round(cfg.val_fraction * len(groups))))
        chosen = rng.choice(groups, size=min(n_val, len(groups) - 1), replace=False)
        is_val |= trval & np.isin(source, chosen)
    if not is_val.any():
        raise ConfigError(
            "session split: no validation possible; the training recordings are too short "
            "for a validation tail and no activity x subject has two training recordings "
            "to take one from (add recordings, or use split.kind=recording)"
        )
    return is_val


def frame_split(activity: np.ndarray, person: np.ndarray, recording: np.ndarray, folds: int,
                fold: int = 0, seed: int = 0, val_fraction: float = 0.2) -> Split:
    """Fold ``fold`` of the stratified recording split of labelled frames (one window per
    frame): what a radar run with ``split.kind=recording, stratify: true`` trains on, for
    code that has the frames' labels alone (linear probes, benchmarks)."""
    n = len(activity)
    metas = [RecordingMeta(str(p), str(r), 1, 1.0) for p, r in zip(person, recording,
                                                                   strict=True)]
    windows = Windows(x=np.zeros((n, 1, 1), np.float32), y=np.asarray(activity, np.int64),
                      recording=np.arange(n), start=np.zeros(n, np.int64),
                      purity=np.ones(n, np.float32), rate=1.0, length=1, step=1)
    cfg = SplitConfig(kind="recording", stratify=True, folds=folds, fold=fold, seed=seed,
                      val_fraction=val_fraction)
    return make_split(windows, metas, cfg)
