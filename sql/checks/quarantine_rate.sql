-- quarantine_rate: the partition's silver-quarantined rows by reason, most frequent first.
-- input: silver_quarantine
select reason, count(*) as quarantined
from silver_quarantine
group by reason
order by quarantined desc, reason
