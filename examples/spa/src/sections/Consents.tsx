import { type FormEvent, useState } from "react";
import { useMutation } from "urql";
import type { UserError } from "../customerForm";
import { ErrorNote } from "../errors";
import { when } from "../format";
import { graphql } from "../gql";
import type { ConsentChannel } from "../gql/graphql";

export const CONSENT_CHANNELS: ConsentChannel[] = ["EMAIL", "SMS", "PHONE", "POST", "PUSH", "OTHER"];

export interface ConsentRecord {
  id: string;
  channel: ConsentChannel;
  granted: boolean;
  source?: string | null;
  actor?: string | null;
  recordedAt: string;
}

const RecordConsent = graphql(`
  mutation RecordConsent($input: RecordConsentInput!) {
    recordConsent(input: $input) {
      consent {
        id
      }
      errors {
        code
        message
        field
      }
    }
  }
`);

/** A customer's consent records (newest first, as the API gives them): the newest per channel
 * is in force, the rest is history. With customers:write the caller may record a decision. */
export function Consents(props: {
  customerId: string;
  consents: ConsentRecord[];
  canRecord: boolean;
  onRecorded: () => void;
}) {
  const inForce = new Map<ConsentChannel, ConsentRecord>();
  for (const record of props.consents) {
    if (!inForce.has(record.channel)) inForce.set(record.channel, record);
  }
  return (
    <section aria-labelledby="consents-title">
      <h2 id="consents-title">Consents ({props.consents.length})</h2>
      <table className="consents">
        <caption>In force per channel (the newest record counts)</caption>
        <thead>
          <tr>
            <th scope="col">Channel</th>
            <th scope="col">Consent</th>
            <th scope="col">Source</th>
            <th scope="col">Recorded</th>
            <th scope="col">By</th>
          </tr>
        </thead>
        <tbody>
          {CONSENT_CHANNELS.map((channel) => {
            const record = inForce.get(channel);
            return (
              <tr key={channel} data-channel={channel}>
                <th scope="row">{channel}</th>
                <td>{record ? (record.granted ? "Granted" : "Withdrawn") : "Never asked"}</td>
                <td>{record?.source ?? "—"}</td>
                <td>{record ? when(record.recordedAt) : "—"}</td>
                <td>{record?.actor ?? "—"}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {props.consents.length > inForce.size && (
        <details>
          <summary>History ({props.consents.length} records)</summary>
          <ol className="consent-history">
            {props.consents.map((record) => (
              <li key={record.id}>
                <time dateTime={record.recordedAt}>{when(record.recordedAt)}</time> {record.channel}{" "}
                {record.granted ? "granted" : "withdrawn"}
                {record.source ? ` (${record.source})` : ""}
              </li>
            ))}
          </ol>
        </details>
      )}
      {props.canRecord && (
        <RecordConsentForm customerId={props.customerId} onRecorded={props.onRecorded} />
      )}
    </section>
  );
}

function RecordConsentForm({
  customerId,
  onRecorded,
}: {
  customerId: string;
  onRecorded: () => void;
}) {
  const [channel, setChannel] = useState<ConsentChannel>("EMAIL");
  const [granted, setGranted] = useState(true);
  const [source, setSource] = useState("");
  const [errors, setErrors] = useState<UserError[]>([]);
  const [{ fetching, error }, record] = useMutation(RecordConsent);
  const sourceErrors = errors.filter((e) => e.field[0] === "input" && e.field[1] === "source");
  const general = errors.filter((e) => !sourceErrors.includes(e));
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const result = await record({
      input: { customerId, channel, granted, source: source.trim() || null },
    });
    const answer = result.data?.recordConsent;
    if (!answer) return;
    setErrors(answer.errors);
    if (answer.errors.length === 0) {
      setSource("");
      onRecorded();
    }
  };
  return (
    <form className="consent-form" onSubmit={submit} noValidate aria-label="Record consent">
      {error && <ErrorNote error={error} />}
      {general.length > 0 && (
        <ul role="alert" className="error">
          {general.map((e, index) => (
            <li key={index}>{e.message}</li>
          ))}
        </ul>
      )}
      <p className="field">
        <label htmlFor="consent-channel">Channel</label>
        <select
          id="consent-channel"
          value={channel}
          onChange={(event) => setChannel(event.target.value as ConsentChannel)}
        >
          {CONSENT_CHANNELS.map((c) => (
            <option key={c}>{c}</option>
          ))}
        </select>
      </p>
      <fieldset className="choice">
        <legend>Decision</legend>
        <label>
          <input type="radio" name="consent-granted" checked={granted} onChange={() => setGranted(true)} />
          Granted
        </label>
        <label>
          <input
            type="radio"
            name="consent-granted"
            checked={!granted}
            onChange={() => setGranted(false)}
          />
          Withdrawn
        </label>
      </fieldset>
      <p className="field">
        <label htmlFor="consent-source">Source</label>
        <input
          id="consent-source"
          value={source}
          aria-invalid={sourceErrors.length > 0}
          aria-describedby={sourceErrors.length ? "consent-source-error" : undefined}
          onChange={(event) => setSource(event.target.value)}
        />
        {sourceErrors.length > 0 && (
          <span id="consent-source-error" className="field-error">
            {sourceErrors.map((e) => e.message).join(" ")}
          </span>
        )}
      </p>
      <p>
        <button type="submit" disabled={fetching}>
          Record consent
        </button>
      </p>
    </form>
  );
}
