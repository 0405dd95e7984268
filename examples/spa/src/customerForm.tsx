import { type FormEvent, useState } from "react";
import type { LifecycleStage } from "./gql/graphql";
import { LIFECYCLE_STAGES, parseTags } from "./lifecycle";

/** A customer as the form edits it: every field as typed. */
export interface CustomerValues {
  name: string;
  email: string;
  phone: string;
  company: string;
  lifecycleStage: LifecycleStage;
  tags: string;
}

export const EMPTY_CUSTOMER: CustomerValues = {
  name: "",
  email: "",
  phone: "",
  company: "",
  lifecycleStage: "LEAD",
  tags: "",
};

/** What the API's input takes for the fields the caller filled in (a cleared field is null). */
export type CustomerChanges = Partial<{
  name: string;
  email: string | null;
  phone: string | null;
  company: string | null;
  lifecycleStage: LifecycleStage;
  tags: string[];
}>;

export interface UserError {
  code: string;
  message: string;
  field: string[];
}

type TextField = "name" | "email" | "phone" | "company" | "tags";
const TEXT_FIELDS: { name: TextField; label: string; type: string }[] = [
  { name: "name", label: "Name", type: "text" },
  { name: "email", label: "E-mail", type: "email" },
  { name: "phone", label: "Phone", type: "tel" },
  { name: "company", label: "Company", type: "text" },
  { name: "tags", label: "Tags (comma separated)", type: "text" },
];
const FIELDS = new Set<string>([...TEXT_FIELDS.map((f) => f.name), "lifecycleStage"]);
/** Masked for a caller without pii:read: shown as the API masks them, never sent back. */
const PERSONAL = new Set<string>(["email", "phone"]);

/** The fields of `values` that differ from `initial`, as the API's input takes them. */
export function changes(initial: CustomerValues, values: CustomerValues): CustomerChanges {
  const out: CustomerChanges = {};
  if (values.name !== initial.name) out.name = values.name.trim();
  for (const key of ["email", "phone", "company"] as const) {
    if (values[key] !== initial[key]) out[key] = values[key].trim() || null;
  }
  if (values.lifecycleStage !== initial.lifecycleStage) out.lifecycleStage = values.lifecycleStage;
  if (values.tags !== initial.tags) out.tags = parseTags(values.tags);
  return out;
}

/** A customer's fields with the API's user errors shown at the field they name (`input.email`);
 * errors about anything else are listed above the form. */
export function CustomerForm(props: {
  initial: CustomerValues;
  errors: UserError[];
  busy: boolean;
  canSeePersonal: boolean;
  submitLabel: string;
  onSubmit: (values: CustomerValues) => void;
}) {
  const [values, setValues] = useState(props.initial);
  const errorAt = (name: string) =>
    props.errors.filter((e) => e.field[0] === "input" && e.field[1] === name);
  const general = props.errors.filter((e) => !(e.field[0] === "input" && FIELDS.has(e.field[1])));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    props.onSubmit(values);
  };
  const described = (name: string) => (errorAt(name).length ? `${name}-error` : undefined);

  return (
    <form className="customer-form" onSubmit={submit} noValidate>
      {general.length > 0 && (
        <ul role="alert" className="error">
          {general.map((e, index) => (
            <li key={index}>{e.message}</li>
          ))}
        </ul>
      )}
      {TEXT_FIELDS.map(({ name, label, type }) => {
        const masked = PERSONAL.has(name) && !props.canSeePersonal;
        return (
          <p key={name} className="field">
            <label htmlFor={`customer-${name}`}>{label}</label>
            <input
              id={`customer-${name}`}
              type={type}
              value={values[name]}
              readOnly={masked}
              aria-readonly={masked || undefined}
              aria-invalid={errorAt(name).length > 0}
              aria-describedby={described(name)}
              onChange={(event) => setValues({ ...values, [name]: event.target.value })}
            />
            <FieldError name={name} errors={errorAt(name)} />
          </p>
        );
      })}
      <p className="field">
        <label htmlFor="customer-lifecycleStage">Lifecycle stage</label>
        <select
          id="customer-lifecycleStage"
          value={values.lifecycleStage}
          aria-invalid={errorAt("lifecycleStage").length > 0}
          aria-describedby={described("lifecycleStage")}
          onChange={(event) =>
            setValues({ ...values, lifecycleStage: event.target.value as LifecycleStage })
          }
        >
          {LIFECYCLE_STAGES.map((stage) => (
            <option key={stage}>{stage}</option>
          ))}
        </select>
        <FieldError name="lifecycleStage" errors={errorAt("lifecycleStage")} />
      </p>
      <p>
        <button type="submit" disabled={props.busy}>
          {props.submitLabel}
        </button>
      </p>
    </form>
  );
}

function FieldError({ name, errors }: { name: string; errors: UserError[] }) {
  if (!errors.length) return null;
  return (
    <span id={`${name}-error`} className="field-error">
      {errors.map((e) => e.message).join(" ")}
    </span>
  );
}
