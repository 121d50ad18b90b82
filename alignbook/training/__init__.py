"""Training: one run at a time (`single.fit`) or many runs at once (`vectorized.fit_many`), to equal results.

`common` holds what both trainers share (task loss, accuracy, evaluation, argument checks, the early-stopping
rule), `seeding` every random draw of a run, `results` the `FitResult` both return, `weights` a run's stored
weights and the branches rebuilt from them. The vectorised trainer is built from `lanes` (many runs' branches
stacked on one axis: layout, data, evaluation), `stacked` (the hand-written step of all of them) and
`kernels` (its batched InfoNCE and AdamW). `threads` holds the thread limits; `bench` the benchmark of the
trainers against each other, against PyTorch's model ensembling (`ensemble`) and against an idiomatic loop
(`peer`). Nothing is imported here, so that importing a light module (`results`, `threads`) does not pull in
torch.
"""
