-- Fracture liaison case-finding over a FHIR bulk export: the single definition of the logic.
--
-- Written in DuckDB SQL and run as is by the DuckDB engine; the Spark engine transpiles every
-- statement with sqlglot. Jinja parameters (double braces) come from fls.yaml and the command line.
-- Inputs: raw_<type> tables (schema.py), vs_codes (value sets: category, system, code, match_kind,
-- site, site_rank, level, drug). Each raw table is scanned exactly once.
-- Statement kinds: CREATE TEMP TABLE = materialised; CREATE TEMP VIEW = not materialised.

{#- A usable subject is a Patient reference: 'Patient/<id>', an absolute URL with '/Patient/<id>',
    or 'urn:uuid:<id>'. Anything else (a bare '5', 'Group/1') is counted, never guessed at. -#}
{% macro patient_ref_ok(ref) -%}
((starts_with({{ ref }}, 'Patient/') AND length({{ ref }}) > 8)
 OR (starts_with({{ ref }}, 'urn:uuid:') AND length({{ ref }}) > 9)
 OR regexp_matches({{ ref }}, '/Patient/.'))
{%- endmacro %}
{#- coded: the CodeableConcept field screening matches; a line whose codings are missing, empty or
    of the wrong JSON shape (an object, a string) reads as NULL and is counted as 'no_coding'. -#}
{% macro flag(x, rtype, coded=none) -%}
CASE WHEN {{ x }}.resourceType IS NULL THEN 'malformed'
         WHEN {{ x }}.resourceType <> '{{ rtype }}' THEN 'wrong_type'
         WHEN {{ x }}.subject.reference IS NULL THEN 'no_subject'
         WHEN NOT {{ patient_ref_ok(x ~ '.subject.reference') }} THEN 'not_a_patient_reference'
{%- if coded %}
         WHEN {{ x }}.{{ coded }}.coding IS NULL OR array_length({{ x }}.{{ coded }}.coding) = 0
           THEN 'no_coding'
{%- endif %}
         ELSE 'ok' END
{%- endmacro %}
{#- The patient id of a usable reference (see patient_ref_ok), kept whole: an id with '/' in it
    is not cut down. The common 'Patient/<id>' form without a regular expression. -#}
{% macro patient_id(ref) -%}
CASE WHEN starts_with({{ ref }}, 'Patient/') THEN substr({{ ref }}, 9)
     WHEN starts_with({{ ref }}, 'urn:uuid:') THEN substr({{ ref }}, 10)
     ELSE regexp_extract({{ ref }}, '/Patient/(.+)$', 1) END
{%- endmacro %}
{% macro codings(x, rtype, field) -%}
UNNEST(CASE WHEN {{ flag(x, rtype, field) }} = 'ok'
    THEN coalesce({{ x }}.{{ field }}.coding, [{'system': NULL, 'code': NULL}])
    ELSE [{'system': NULL, 'code': NULL}] END) AS cd
{%- endmacro %}

{#- The text of an attachment: text/plain (or no type) decoded from base64, text/html decoded and
    stripped of its tags; other types (PDF, images) are not read. An undecodable attachment is
    NULL on DuckDB (try); Spark decodes leniently. -#}
{% macro attachment_text(a) -%}
CASE WHEN {{ a }}.data IS NULL THEN NULL
     WHEN {{ a }}.contentType IS NULL OR starts_with(lower({{ a }}.contentType), 'text/plain')
       THEN try(decode(from_base64({{ a }}.data)))
     WHEN starts_with(lower({{ a }}.contentType), 'text/html')
       THEN regexp_replace(try(decode(from_base64({{ a }}.data))), '<[^>]*>', ' ', 'g')
END
{%- endmacro %}

-- Report text: DiagnosticReport conclusion and presentedForm, DocumentReference attachments.
-- One row per candidate text (a report part that contains a trigger word of the report reader,
-- vertebra.language.reports.trigger()), one row per kind of other line with its count in n.
-- The engine hands the candidates to the report reader (Python) and registers what it finds as
-- report_findings (patient_id, report_id, event_date, status, level, acuity, sentence).
CREATE TEMP TABLE report_texts AS
WITH dr AS (
  SELECT 'DiagnosticReport' AS rtype, {{ flag('x', 'DiagnosticReport') }} AS flag,
    'DiagnosticReport/' || x.id AS report_id, x.subject.reference AS subject_ref,
    coalesce(x.effectiveDateTime, x.effectivePeriod.start, x.issued) AS event_time,
    x.status AS status, x.conclusion AS conclusion,
    UNNEST(CASE WHEN x.presentedForm IS NULL OR array_length(x.presentedForm) = 0
                THEN [{'contentType': NULL, 'data': NULL}] ELSE x.presentedForm END) AS a
  FROM raw_diagnosticreport AS x
),
dref AS (
  SELECT 'DocumentReference' AS rtype, {{ flag('x', 'DocumentReference') }} AS flag,
    'DocumentReference/' || x.id AS report_id, x.subject.reference AS subject_ref,
    x.date AS event_time, x.status AS status,
    UNNEST(CASE WHEN x.content IS NULL OR array_length(x.content) = 0
                THEN [{'attachment': {'contentType': NULL, 'data': NULL}}] ELSE x.content END) AS c
  FROM raw_documentreference AS x
),
texts AS (
  SELECT rtype, flag, report_id, subject_ref, event_time, status,
    concat_ws(chr(10), conclusion, {{ attachment_text('a') }}) AS text
  FROM dr
  UNION ALL
  SELECT rtype, flag, report_id, subject_ref, event_time, status,
    {{ attachment_text('c.attachment') }} AS text
  FROM dref
),
marked AS (  -- the trigger words in any case: no lower-cased copy of each text (logic.any_case)
  SELECT rtype, flag, report_id, subject_ref, event_time, text,
    flag = 'ok' AND coalesce(status, 'final') NOT IN ('entered-in-error', 'cancelled')
      AND coalesce(regexp_matches(text, '{{ report_trigger_any_case }}'), FALSE) AS candidate
  FROM texts
)
SELECT rtype, flag,
  CASE WHEN candidate THEN {{ patient_id('subject_ref') }} END AS patient_id,
  CASE WHEN candidate THEN report_id END AS report_id,
  CASE WHEN candidate THEN TRY_CAST(substr(event_time, 1, 10) AS DATE) END AS event_date,
  CASE WHEN candidate THEN text END AS text,
  count(*) AS n
FROM marked
GROUP BY rtype, flag,
  CASE WHEN candidate THEN {{ patient_id('subject_ref') }} END,
  CASE WHEN candidate THEN report_id END,
  CASE WHEN candidate THEN TRY_CAST(substr(event_time, 1, 10) AS DATE) END,
  CASE WHEN candidate THEN text END;

-- Patients: one row per patient id (flag 'ok'), plus one row per kind of unusable line with
-- its count in n. Aggregated while scanning: no per-line table is kept.
CREATE TEMP TABLE patients AS
SELECT flag, CASE WHEN flag = 'ok' THEN id END AS patient_id, max(gender) AS gender,
  max(TRY_CAST(substr(birthDate, 1, 10) AS DATE)) AS birth_date,
  max(name) AS name_json, max(identifier) AS identifier_json,
  bool_or(coalesce(deceasedBoolean, deceasedDateTime IS NOT NULL)) AS deceased,
  count(*) AS n
FROM (
  SELECT
    CASE WHEN resourceType IS NULL THEN 'malformed'
         WHEN resourceType <> 'Patient' THEN 'wrong_type'
         WHEN id IS NULL THEN 'no_id'
         ELSE 'ok' END AS flag,
    id, gender, birthDate, deceasedBoolean, deceasedDateTime, name, identifier
  FROM raw_patient
) AS x
GROUP BY flag, CASE WHEN flag = 'ok' THEN id END;

CREATE TEMP VIEW patient_one AS
SELECT patient_id, gender, birth_date, deceased, name_json, identifier_json
FROM patients WHERE flag = 'ok';

-- Conditions with a fragility fracture code, plus one row per bad line. The value-set join is an
-- equi-join on (system, first {{ code_head }} characters) -- every value-set code is at least
-- that long -- with the exact/prefix test as a residual, so each coding meets a handful of
-- candidate codes instead of the whole value set. The patient id is derived after the join.
CREATE TEMP TABLE condition_events AS
WITH lines AS (
  SELECT
    {{ flag('c', 'Condition', 'code') }} AS flag,
    c.subject.reference AS subject_ref,
    coalesce(c.onsetDateTime, c.onsetPeriod.start, c.recordedDate) AS event_time,
    {{ codings('c', 'Condition', 'code') }}
  FROM raw_condition AS c
),
base AS (
  SELECT flag, subject_ref, event_time, cd.system AS system,
    CASE WHEN cd.system = 'http://hl7.org/fhir/sid/icd-10-cm'
         THEN upper(replace(cd.code, '.', '')) ELSE cd.code END AS code
  FROM lines
),
vs AS (
  SELECT system, code, match_kind, site, site_rank, level,
    substr(code, 1, {{ code_head }}) AS head
  FROM vs_codes
  WHERE category = 'fracture'
)
SELECT b.flag, {{ patient_id('b.subject_ref') }} AS patient_id,
  TRY_CAST(substr(b.event_time, 1, 10) AS DATE) AS event_date,
  b.system, b.code, v.site, v.site_rank, v.level
FROM base AS b
LEFT JOIN vs AS v
  ON v.system = b.system AND v.head = substr(b.code, 1, {{ code_head }}) AND b.flag = 'ok'
  AND (v.code = b.code OR (v.match_kind = 'prefix' AND starts_with(b.code, v.code)))
WHERE b.flag <> 'ok' OR v.site IS NOT NULL;

-- Fragility fractures on or before the cut-off, in the screened age band (age unknown is kept):
-- coded ones, and vertebral fractures affirmed in report text (system 'report_text', code = the
-- report's id, dated by the report).
CREATE TEMP TABLE fractures AS
SELECT DISTINCT
  e.patient_id, e.event_date, e.site, e.site_rank, e.level, e.system, e.code
FROM (
  SELECT patient_id, event_date, site, site_rank, level, system, code
  FROM condition_events WHERE flag = 'ok'
  UNION ALL
  SELECT r.patient_id, r.event_date, 'vertebral' AS site,
    (SELECT min(site_rank) FROM vs_codes WHERE site = 'vertebral') AS site_rank,
    r.level, 'report_text' AS system, r.report_id AS code
  FROM report_findings AS r
  WHERE r.status = 'affirmed'
) AS e
LEFT JOIN patient_one AS p ON p.patient_id = e.patient_id
WHERE (e.event_date IS NULL OR e.event_date <= DATE '{{ as_of }}')
  AND (p.birth_date IS NULL OR e.event_date IS NULL
       OR (year(e.event_date) - year(p.birth_date)
           - CASE WHEN month(e.event_date) * 100 + day(e.event_date)
                       < month(p.birth_date) * 100 + day(p.birth_date) THEN 1 ELSE 0 END)
          >= {{ min_age }});

-- The index fracture: the most recent one; on the same day the site earliest in site_order.
CREATE TEMP TABLE index_fracture AS
SELECT patient_id, event_date AS index_date, site AS index_site, system AS index_system,
  code AS index_code
FROM (
  SELECT f.*, row_number() OVER (
    PARTITION BY patient_id ORDER BY event_date DESC NULLS LAST, site_rank, system, code) AS rn
  FROM fractures AS f
) AS ranked
WHERE rn = 1;

CREATE TEMP TABLE fracture_summary AS
SELECT
  f.patient_id,
  bool_or(f.site = 'vertebral') AS vertebral_fracture,
  bool_or(f.site = 'vertebral' AND f.system <> 'report_text') AS vertebral_fracture_coded,
  CASE WHEN NOT bool_or(f.system <> 'report_text') THEN 'report_text'
       WHEN bool_or(f.system = 'report_text') THEN 'coded+report_text'
       ELSE 'coded' END AS found_by,
  list_sort(list_distinct(list(f.level))) AS fracture_levels,
  count(DISTINCT CASE WHEN f.event_date
    < i.index_date - INTERVAL {{ episode_days }} DAY THEN f.event_date END) AS prior_fracture_dates,
  min(f.event_date) AS first_fracture_date
FROM fractures AS f
JOIN index_fracture AS i ON i.patient_id = f.patient_id
GROUP BY f.patient_id;

-- The evidence for a fracture found in report text: the newest affirming report's sentence.
CREATE TEMP TABLE report_evidence AS
SELECT patient_id, evidence, acuity
FROM (
  SELECT r.patient_id, r.report_id || ': ' || r.sentence AS evidence, r.acuity,
    row_number() OVER (
      PARTITION BY r.patient_id ORDER BY r.event_date DESC NULLS LAST, r.report_id) AS rn
  FROM report_findings AS r
  WHERE r.status = 'affirmed'
    AND r.report_id IN (SELECT code FROM fractures WHERE system = 'report_text')
) AS ranked
WHERE rn = 1;

-- Bone density: procedures, requests and T-score results, only for worklist patients.
-- Coded resources: value-set equi-join first, patient id only for the rows that matched.
{% macro dxa_events(table, resource, raw, event_time, default_status, excluded) -%}
CREATE TEMP TABLE {{ table }} AS
WITH lines AS (
  SELECT
    {{ flag('x', resource, 'code') }} AS flag,
    x.subject.reference AS subject_ref,
    {{ event_time }} AS event_time,
    x.status AS status,
    {{ codings('x', resource, 'code') }}
  FROM {{ raw }} AS x
),
base AS (
  SELECT flag, subject_ref, event_time, status, cd.system AS system, cd.code AS code
  FROM lines
),
vs AS (SELECT * FROM vs_codes WHERE category = 'dxa_scan')
SELECT b.flag, {{ patient_id('b.subject_ref') }} AS patient_id,
  TRY_CAST(substr(b.event_time, 1, 10) AS DATE) AS event_date, v.category
FROM base AS b
LEFT JOIN vs AS v
  ON v.system = b.system AND v.code = b.code AND b.flag = 'ok'
  AND coalesce(b.status, '{{ default_status }}') NOT IN {{ excluded }}
WHERE b.flag <> 'ok'
  OR (v.category IS NOT NULL
      AND {{ patient_id('b.subject_ref') }} IN (SELECT patient_id FROM index_fracture));
{%- endmacro %}
{{ dxa_events('procedure_events', 'Procedure', 'raw_procedure',
              'coalesce(x.performedDateTime, x.performedPeriod.start)', 'completed',
              "('entered-in-error', 'not-done')") }}

{{ dxa_events('servicerequest_events', 'ServiceRequest', 'raw_servicerequest', 'x.authoredOn',
              'active', "('entered-in-error', 'revoked')") }}

CREATE TEMP TABLE observation_events AS
WITH lines AS (
  SELECT
    {{ flag('x', 'Observation', 'code') }} AS flag,
    x.subject.reference AS subject_ref,
    coalesce(x.effectiveDateTime, x.effectivePeriod.start, x.issued) AS event_time,
    x.status AS status,
    x.valueQuantity.value AS value,
    {{ codings('x', 'Observation', 'code') }}
  FROM raw_observation AS x
),
base AS (
  SELECT flag, subject_ref, event_time, status, value, cd.system AS system, cd.code AS code
  FROM lines
),
vs AS (SELECT * FROM vs_codes WHERE category IN ('dxa_t_score', 'egfr'))
SELECT b.flag, {{ patient_id('b.subject_ref') }} AS patient_id,
  TRY_CAST(substr(b.event_time, 1, 10) AS DATE) AS event_date, b.value, v.category
FROM base AS b
LEFT JOIN vs AS v
  ON v.system = b.system AND v.code = b.code AND b.flag = 'ok'
  AND coalesce(b.status, 'final') NOT IN ('entered-in-error', 'cancelled', 'preliminary')
WHERE b.flag <> 'ok'
  OR (v.category IS NOT NULL
      AND {{ patient_id('b.subject_ref') }} IN (SELECT patient_id FROM index_fracture));

CREATE TEMP TABLE medication_events AS
WITH lines AS (
  SELECT
    {{ flag('x', 'MedicationRequest', 'medicationCodeableConcept') }} AS flag,
    x.subject.reference AS subject_ref,
    x.authoredOn AS event_time,
    x.status AS status,
    x.intent AS intent,
    {{ codings('x', 'MedicationRequest', 'medicationCodeableConcept') }}
  FROM raw_medicationrequest AS x
),
base AS (
  SELECT flag, subject_ref, event_time, status, intent, cd.system AS system, cd.code AS code
  FROM lines
),
vs AS (SELECT * FROM vs_codes WHERE category = 'medication')
SELECT b.flag, {{ patient_id('b.subject_ref') }} AS patient_id,
  TRY_CAST(substr(b.event_time, 1, 10) AS DATE) AS event_date, b.status, v.drug
FROM base AS b
LEFT JOIN vs AS v
  ON v.system = b.system AND v.code = b.code AND b.flag = 'ok'
  AND coalesce(b.status, 'active') NOT IN ('entered-in-error', 'cancelled', 'draft')
  AND coalesce(b.intent, 'order') NOT IN ('proposal', 'plan', 'directive', 'option')
WHERE b.flag <> 'ok'
  OR (v.drug IS NOT NULL
      AND {{ patient_id('b.subject_ref') }} IN (SELECT patient_id FROM index_fracture));

-- Encounters: only the last one per worklist patient (and counts of unusable lines).
CREATE TEMP TABLE encounter_events AS
WITH base AS (
  SELECT
    {{ flag('x', 'Encounter') }} AS flag,
    x.subject.reference AS subject_ref,
    TRY_CAST(substr(x.period.start, 1, 10) AS DATE) AS event_date
  FROM raw_encounter AS x
)
SELECT flag, CASE WHEN flag = 'ok' THEN {{ patient_id('subject_ref') }} END AS patient_id,
  max(event_date) AS last_encounter_date, count(*) AS n
FROM base
WHERE flag <> 'ok'
  OR (event_date <= DATE '{{ as_of }}'
      AND {{ patient_id('subject_ref') }} IN (SELECT patient_id FROM index_fracture))
GROUP BY flag, CASE WHEN flag = 'ok' THEN {{ patient_id('subject_ref') }} END;

CREATE TEMP TABLE dxa AS
SELECT
  i.patient_id,
  min(CASE WHEN d.kind <> 'requested' THEN d.event_date END) AS dxa_date,
  min(CASE WHEN d.kind = 'requested' THEN d.event_date END) AS dxa_requested_date
FROM index_fracture AS i
JOIN (
  SELECT patient_id, event_date, 'scan' AS kind FROM procedure_events WHERE flag = 'ok'
  UNION ALL
  SELECT patient_id, event_date, 'requested' AS kind FROM servicerequest_events WHERE flag = 'ok'
  UNION ALL
  SELECT patient_id, event_date, 'result' AS kind FROM observation_events
  WHERE flag = 'ok' AND category = 'dxa_t_score'
) AS d ON d.patient_id = i.patient_id
WHERE d.event_date >= i.index_date
  AND d.event_date <= i.index_date + INTERVAL {{ dxa_days }} DAY
  AND d.event_date <= DATE '{{ as_of }}'
GROUP BY i.patient_id;

CREATE TEMP TABLE t_scores AS
SELECT patient_id, min(value) AS t_score_lowest
FROM observation_events
WHERE flag = 'ok' AND category = 'dxa_t_score' AND value IS NOT NULL
  AND event_date <= DATE '{{ as_of }}'
GROUP BY patient_id;

CREATE TEMP TABLE egfr_latest AS
SELECT patient_id, egfr, egfr_date
FROM (
  SELECT patient_id, value AS egfr, event_date AS egfr_date,
    row_number() OVER (PARTITION BY patient_id ORDER BY event_date DESC NULLS LAST, value) AS rn
  FROM observation_events
  WHERE flag = 'ok' AND category = 'egfr' AND value IS NOT NULL
    AND event_date <= DATE '{{ as_of }}'
) AS ranked
WHERE rn = 1;

CREATE TEMP TABLE treatment_start AS
SELECT patient_id, medication_start_date, medication_started_drug
FROM (
  SELECT m.patient_id, m.event_date AS medication_start_date, m.drug AS medication_started_drug,
    row_number() OVER (PARTITION BY m.patient_id ORDER BY m.event_date, m.drug) AS rn
  FROM medication_events AS m
  JOIN index_fracture AS i ON i.patient_id = m.patient_id
  WHERE m.flag = 'ok' AND m.event_date >= i.index_date
    AND m.event_date <= i.index_date + INTERVAL {{ medication_days }} DAY
    AND m.event_date <= DATE '{{ as_of }}'
) AS ranked
WHERE rn = 1;

CREATE TEMP TABLE persistence AS
SELECT m.patient_id, count(*) AS n
FROM medication_events AS m
JOIN index_fracture AS i ON i.patient_id = m.patient_id
WHERE m.flag = 'ok' AND m.event_date <= DATE '{{ as_of }}' AND (
  (m.event_date >= i.index_date + INTERVAL {{ persistence_from_days }} DAY
   AND m.event_date <= i.index_date + INTERVAL {{ persistence_to_days }} DAY)
  OR (m.status = 'active' AND m.event_date >= i.index_date
      AND m.event_date < i.index_date + INTERVAL {{ persistence_days }} DAY))
GROUP BY m.patient_id;

CREATE TEMP TABLE current_drug AS
SELECT patient_id, current_drug, current_drug_date
FROM (
  SELECT patient_id, drug AS current_drug, event_date AS current_drug_date,
    row_number() OVER (PARTITION BY patient_id ORDER BY event_date DESC NULLS LAST, drug) AS rn
  FROM medication_events
  WHERE flag = 'ok' AND event_date <= DATE '{{ as_of }}'
    AND (status = 'active'
         OR event_date > DATE '{{ as_of }}' - INTERVAL {{ current_drug_lookback_days }} DAY)
) AS ranked
WHERE rn = 1;

CREATE TEMP TABLE worklist AS
SELECT
  i.patient_id,
  -- the first name (its text, else first given name and family) and the identifier typed MR
  -- (HL7 v2-0203) among the first three, read from the raw JSON for the worklist's rows only
  coalesce(json_extract_string(p.name_json, '$[0].text'),
    nullif(trim(coalesce(json_extract_string(p.name_json, '$[0].given[0]'), '') || ' '
      || coalesce(json_extract_string(p.name_json, '$[0].family'), '')), '')) AS patient_name,
  CASE WHEN json_extract_string(p.identifier_json, '$[0].type.coding[0].code') = 'MR'
         THEN json_extract_string(p.identifier_json, '$[0].value')
    WHEN json_extract_string(p.identifier_json, '$[1].type.coding[0].code') = 'MR'
         THEN json_extract_string(p.identifier_json, '$[1].value')
    WHEN json_extract_string(p.identifier_json, '$[2].type.coding[0].code') = 'MR'
         THEN json_extract_string(p.identifier_json, '$[2].value') END AS mrn,
  p.patient_id IS NOT NULL AS patient_record_found,
  p.gender AS sex,
  p.birth_date,
  CASE WHEN p.birth_date IS NOT NULL AND i.index_date IS NOT NULL THEN
    year(i.index_date) - year(p.birth_date)
    - CASE WHEN month(i.index_date) * 100 + day(i.index_date)
                < month(p.birth_date) * 100 + day(p.birth_date) THEN 1 ELSE 0 END
  END AS age_at_fracture,
  p.deceased,
  i.index_date AS index_fracture_date,
  i.index_site AS index_fracture_site,
  i.index_system AS index_fracture_system,
  i.index_code AS index_fracture_code,
  s.vertebral_fracture,
  s.vertebral_fracture_coded,
  s.found_by,
  ev.evidence,
  ev.acuity AS fracture_acuity,
  s.fracture_levels,
  s.prior_fracture_dates AS prior_fracture_count,
  s.first_fracture_date,
  date_diff('day', i.index_date, DATE '{{ as_of }}') AS days_since_fracture,
  d.dxa_date,
  d.dxa_requested_date,
  CASE WHEN i.index_date IS NULL THEN NULL
       WHEN d.dxa_date IS NOT NULL THEN TRUE
       WHEN DATE '{{ as_of }}' > i.index_date + INTERVAL {{ dxa_days }} DAY THEN FALSE
  END AS dxa_within_12_weeks,
  ts.t_score_lowest,
  t.medication_start_date,
  t.medication_started_drug,
  CASE WHEN i.index_date IS NULL THEN NULL
       WHEN t.medication_start_date IS NOT NULL THEN TRUE
       WHEN DATE '{{ as_of }}' > i.index_date + INTERVAL {{ medication_days }} DAY THEN FALSE
  END AS medication_started_within_16_weeks,
  CASE WHEN t.medication_start_date IS NULL THEN NULL
       WHEN pe.n IS NOT NULL THEN TRUE
       WHEN DATE '{{ as_of }}' >= i.index_date + INTERVAL {{ persistence_days }} DAY THEN FALSE
  END AS medication_at_52_weeks,
  c.current_drug,
  c.current_drug_date,
  g.egfr,
  g.egfr_date,
  e.last_encounter_date
FROM index_fracture AS i
LEFT JOIN patient_one AS p ON p.patient_id = i.patient_id
LEFT JOIN fracture_summary AS s ON s.patient_id = i.patient_id
LEFT JOIN dxa AS d ON d.patient_id = i.patient_id
LEFT JOIN t_scores AS ts ON ts.patient_id = i.patient_id
LEFT JOIN treatment_start AS t ON t.patient_id = i.patient_id
LEFT JOIN persistence AS pe ON pe.patient_id = i.patient_id
LEFT JOIN current_drug AS c ON c.patient_id = i.patient_id
LEFT JOIN egfr_latest AS g ON g.patient_id = i.patient_id
LEFT JOIN encounter_events AS e ON e.patient_id = i.patient_id AND e.flag = 'ok'
LEFT JOIN report_evidence AS ev ON ev.patient_id = i.patient_id;

-- Lines that could not be used, per resource type and reason.
CREATE TEMP TABLE issues AS
SELECT 'Patient' AS resource_type, flag, sum(n) AS n FROM patients WHERE flag <> 'ok' GROUP BY flag
UNION ALL
SELECT 'Condition', flag, count(*) FROM condition_events WHERE flag <> 'ok' GROUP BY flag
UNION ALL
SELECT 'Procedure', flag, count(*) FROM procedure_events WHERE flag <> 'ok' GROUP BY flag
UNION ALL
SELECT 'ServiceRequest', flag, count(*) FROM servicerequest_events WHERE flag <> 'ok' GROUP BY flag
UNION ALL
SELECT 'Observation', flag, count(*) FROM observation_events WHERE flag <> 'ok' GROUP BY flag
UNION ALL
SELECT 'MedicationRequest', flag, count(*) FROM medication_events WHERE flag <> 'ok' GROUP BY flag
UNION ALL
SELECT 'Encounter', flag, sum(n) FROM encounter_events WHERE flag <> 'ok' GROUP BY flag
UNION ALL
SELECT rtype, flag, sum(n) FROM report_texts WHERE flag <> 'ok' GROUP BY rtype, flag;

CREATE TEMP TABLE population AS
SELECT
  (SELECT count(*) FROM patient_one) AS patients,
  (SELECT count(*) FROM index_fracture) AS fracture_patients,
  (SELECT count(*) FROM index_fracture WHERE patient_id NOT IN (SELECT patient_id FROM patient_one))
    AS fracture_patients_without_patient_record,
  (SELECT coalesce(sum(n), 0) FROM report_texts WHERE flag = 'ok') AS report_texts_read,
  (SELECT count(*) FROM report_texts WHERE flag = 'ok' AND report_id IS NOT NULL)
    AS report_texts_with_trigger_words,
  (SELECT count(DISTINCT patient_id) FROM report_findings WHERE status = 'uncertain'
     AND patient_id NOT IN (SELECT patient_id FROM index_fracture))
    AS patients_with_only_uncertain_report_text;
