"""② Scheduling: due attempts move from the database to Redis, as much as can start soon.

- `dispatcher`  each pass claims due attempts whose calling window is open (scheduled → queued)
                and enqueues their dial jobs; fair across campaigns by weight (`fairness`), never
                more than each scope can start soon (`capacity`)
- `control`     pause, resume and cancel a campaign
- `unusable`    due attempts of a campaign whose stored policy no longer validates are parked

What may be dialled at all (windows, do-not-call, caps) is `rules/`; what happens when an
attempt stops is `lifecycle/`.
"""
