-- One row per subscription period, newest version, MRR in local currency and
-- USD. Trial-only rows (never paid) have no started_at.
with versions as (
    select
        subscriptions.*,
        row_number() over (
            partition by subscription_id
            order by updated_at desc, dt desc
        ) as version_rank
    from billing.subscriptions as subscriptions
)

select
    cast(versions.subscription_id as varchar) as subscription_id,
    cast(versions.customer_id as varchar) as customer_id,
    cast(versions.plan as varchar) as plan,
    cast(versions.status as varchar) as status,
    cast(versions.end_reason as varchar) as end_reason,
    cast(upper(versions.currency) as varchar) as currency,
    cast(versions.mrr_cents * 0.01 as decimal(18, 2)) as mrr_local,
    cast(versions.mrr_cents * 0.01 * fx.usd_rate as decimal(18, 2)) as mrr_usd,
    cast(versions.trial_start as timestamp) as trial_start,
    cast(versions.trial_end as timestamp) as trial_end,
    cast(versions.started_at as timestamp) as started_at,
    cast(versions.ended_at as timestamp) as ended_at,
    cast(versions.started_at as date) as started_date,
    cast(versions.ended_at as date) as ended_date,
    cast(versions.created_at as timestamp) as created_at,
    cast(versions.updated_at as timestamp) as updated_at,
    cast(versions.dt as date) as load_date
from versions
left join staging.stg_fx_rates as fx on upper(versions.currency) = fx.currency
where versions.version_rank = 1
