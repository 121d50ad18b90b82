"""Training: one run at a time (`single.fit`) or many runs at once (`vectorized.fit_many`), to equal results.

`common` holds what both trainers share (task loss, accuracy, evaluation, argument checks), `kernels` the
hand-written batched InfoNCE and AdamW of the vectorised trainer, `seeding` every random draw of a run,
`results` the `FitResult` both return, `threads` the thread limits, `bench` the benchmark of one trainer
against the other. Nothing is imported here, so that importing a light module (`results`, `threads`)
does not pull in torch.
"""
