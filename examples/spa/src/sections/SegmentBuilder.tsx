import { type FormEvent, useState } from "react";
import { useMutation, useQuery } from "urql";
import type { UserError } from "../customerForm";
import { useDebounced } from "../debounce";
import { ErrorNote } from "../errors";
import { graphql } from "../gql";
import type { AudienceFilterInput } from "../gql/graphql";
import { useCan } from "../permissions";
import { customerHref } from "../route";

const CreateSegment = graphql(`
  mutation CreateDynamicSegment($input: CreateAudienceSegmentInput!) {
    createAudienceSegment(input: $input) {
      segment {
        id
        name
        size
        preview(first: 10) {
          id
          name
        }
      }
      errors {
        code
        message
        field
      }
    }
  }
`);

/** What the filter being built holds now, before it is saved (asked again per pause in
 * editing, not per key). */
const FilterPreview = graphql(`
  query SegmentFilterPreview($filter: AudienceFilterInput!) {
    audienceFilterPreview(filter: $filter, first: 10) {
      size
      preview {
        id
        name
      }
      errors {
        code
        message
        field
      }
    }
  }
`);

/** How long the tree must stay unchanged before its preview is asked for. */
const PREVIEW_AFTER_MS = 400;

/** The fields a condition may name (the marketing plugin's filter, crm_marketing/filters.py),
 * by kind: the kind decides the operators. The API checks everything again and answers a user
 * error at the condition's path for anything it refuses. */
type Kind = "text" | "choice" | "number" | "date" | "tags";
const FIELDS: { name: string; label: string; kind: Kind; aggregate?: boolean }[] = [
  { name: "lifecycleStage", label: "Lifecycle stage", kind: "choice" },
  { name: "tags", label: "Tags", kind: "tags" },
  { name: "name", label: "Name", kind: "text" },
  { name: "email", label: "E-mail", kind: "text" },
  { name: "phone", label: "Phone", kind: "text" },
  { name: "company", label: "Company", kind: "text" },
  { name: "externalId", label: "External ID", kind: "text" },
  { name: "createdAt", label: "Created", kind: "date" },
  { name: "orders.count", label: "Orders: count", kind: "number", aggregate: true },
  { name: "orders.totalSpent", label: "Orders: total spent", kind: "number", aggregate: true },
  { name: "orders.lastOrderedAt", label: "Orders: last ordered", kind: "date", aggregate: true },
  { name: "analytics.rfmSegment", label: "Analytics: RFM segment", kind: "choice" },
  { name: "analytics.churnBand", label: "Analytics: churn band", kind: "choice" },
  { name: "analytics.churnProbability", label: "Analytics: churn probability", kind: "number" },
  { name: "analytics.predictedValue", label: "Analytics: predicted value", kind: "number" },
];
const OPERATORS: Record<Kind, string[]> = {
  text: ["eq", "neq", "in", "notIn", "contains", "startsWith", "endsWith", "exists", "notExists"],
  choice: ["eq", "neq", "in", "notIn", "exists", "notExists"],
  number: ["eq", "neq", "gt", "gte", "lt", "lte", "exists", "notExists"],
  date: ["before", "after", "inLastDays", "notInLastDays", "exists", "notExists"],
  tags: ["contains", "notContains", "containsAny"],
};
const LISTS = new Set(["in", "notIn", "containsAny"]);
const NO_VALUE = new Set(["exists", "notExists"]);

interface Condition {
  id: number;
  type: "condition";
  not: boolean;
  field: string;
  operator: string;
  value: string;
  days: string;
}
interface Group {
  id: number;
  type: "group";
  not: boolean;
  join: "and" | "or";
  children: Node[];
}
type Node = Condition | Group;

let lastId = 0;
const nextId = () => ++lastId;
const newCondition = (): Condition => ({
  id: nextId(),
  type: "condition",
  not: false,
  field: "lifecycleStage",
  operator: "eq",
  value: "",
  days: "",
});
const newGroup = (join: "and" | "or" = "and"): Group => ({
  id: nextId(),
  type: "group",
  not: false,
  join,
  children: [newCondition()],
});

const kindOf = (field: string): Kind => FIELDS.find((f) => f.name === field)?.kind ?? "text";

/** One value as typed: a number where the field counts (left as text when it is not one, for
 * the API to refuse at its path), otherwise text. */
function scalar(kind: Kind, operator: string, text: string): unknown {
  const numeric = kind === "number" || operator === "inLastDays" || operator === "notInLastDays";
  const trimmed = text.trim();
  return numeric && trimmed !== "" && !Number.isNaN(Number(trimmed)) ? Number(trimmed) : trimmed;
}

/** The API's filter tree for `node`, and each node's path in the input (where its errors are
 * reported: `input.filter.and.1.not.condition.value`). */
function toInput(
  node: Node,
  path: string[],
  paths: Map<string, number>,
): AudienceFilterInput {
  if (node.not) {
    return { not: toInput({ ...node, not: false }, [...path, "not"], paths) };
  }
  paths.set(path.join("."), node.id);
  if (node.type === "group") {
    const children = node.children.map((child, index) =>
      toInput(child, [...path, node.join, String(index)], paths),
    );
    return node.join === "and" ? { and: children } : { or: children };
  }
  const kind = kindOf(node.field);
  const value = NO_VALUE.has(node.operator)
    ? null
    : LISTS.has(node.operator)
      ? node.value
          .split(",")
          .map((v) => v.trim())
          .filter(Boolean)
          .map((v) => scalar(kind, node.operator, v))
      : scalar(kind, node.operator, node.value);
  const aggregate = FIELDS.find((f) => f.name === node.field)?.aggregate;
  return {
    condition: {
      field: node.field,
      operator: node.operator,
      value,
      days: aggregate && node.days.trim() ? Number(node.days) : null,
    },
  };
}

/** A condition still being written: its operator needs a value and none is typed yet. */
function unfinished(node: Node): boolean {
  if (node.type === "group") return node.children.some(unfinished);
  return !NO_VALUE.has(node.operator) && node.value.trim() === "";
}

type Placed = { error: UserError; node: number | null };

/** The API's errors, each at the deepest node whose path starts the error's path (`paths` as
 * {@link toInput} made them). */
function place(errors: UserError[], paths: Map<string, number>): Placed[] {
  return errors.map((e) => {
    let node: number | null = null;
    for (let end = e.field.length; end > 0 && node === null; end--) {
      node = paths.get(e.field.slice(0, end).join(".")) ?? null;
    }
    return { error: e, node };
  });
}

/** The marketing plugin's dynamic segments, built as a tree: groups joined by AND or OR, each
 * node negatable (NOT), conditions on a field with an operator and a value. While the tree is
 * edited it shows how many customers it would hold and the first of them, or the API's user
 * errors at the node they name; creating one shows the new segment's size and first members. */
export function SegmentBuilder() {
  const [name, setName] = useState("");
  const [root, setRoot] = useState<Group>(() => newGroup("and"));
  // The errors of the last "Create", until the tree is edited again.
  const [saveErrors, setSaveErrors] = useState<Placed[]>([]);
  const [{ fetching, error, data }, create] = useMutation(CreateSegment);
  const created = saveErrors.length === 0 ? data?.createAudienceSegment.segment : null;

  const settled = useDebounced(root, PREVIEW_AFTER_MS);
  const previewPaths = new Map<string, number>();
  const previewFilter = toInput(settled, ["filter"], previewPaths);
  const canPreview = useCan("segments:read");
  const waiting = unfinished(settled);
  const [{ data: previewed, error: previewError, fetching: previewing }] = useQuery({
    query: FilterPreview,
    variables: { filter: previewFilter },
    pause: !canPreview || waiting,
  });
  const preview = waiting ? null : previewed?.audienceFilterPreview;
  // A preview's errors are placed by the paths of the tree it was asked for: not while the
  // next one is on its way.
  const liveErrors = preview && !previewing ? place(preview.errors, previewPaths) : [];
  const errors = saveErrors.length > 0 ? saveErrors : liveErrors;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const paths = new Map<string, number>();
    const filter = toInput(root, ["input", "filter"], paths);
    const result = await create({ input: { name: name.trim(), kind: "DYNAMIC", filter } });
    const answer = result.data?.createAudienceSegment;
    if (!answer) return;
    setSaveErrors(place(answer.errors, paths));
  };

  const update = (id: number, change: (node: Node) => Node) => {
    const walk = (node: Node): Node => {
      if (node.id === id) return change(node);
      if (node.type === "group") return { ...node, children: node.children.map(walk) };
      return node;
    };
    setRoot((now) => walk(now) as Group);
    setSaveErrors([]);
  };
  const errorsAt = (id: number) => errors.filter((e) => e.node === id).map((e) => e.error);
  const nameErrors = errors.filter((e) => e.error.field[1] === "name").map((e) => e.error);
  const general = errors.filter(
    (e) => e.node === null && e.error.field[1] !== "name",
  );

  return (
    <section aria-labelledby="builder-title" className="segment-builder">
      <h2 id="builder-title">Segment builder</h2>
      <form onSubmit={submit} noValidate aria-labelledby="builder-title">
        {error && <ErrorNote error={error} />}
        {general.length > 0 && (
          <ul role="alert" className="error">
            {general.map((e, index) => (
              <li key={index}>{e.error.message}</li>
            ))}
          </ul>
        )}
        <p className="field">
          <label htmlFor="segment-name">Segment name</label>
          <input
            id="segment-name"
            value={name}
            aria-invalid={nameErrors.length > 0}
            aria-describedby={nameErrors.length ? "segment-name-error" : undefined}
            onChange={(event) => setName(event.target.value)}
          />
          {nameErrors.length > 0 && (
            <span id="segment-name-error" className="field-error">
              {nameErrors.map((e) => e.message).join(" ")}
            </span>
          )}
        </p>
        <GroupView
          group={root}
          label="Customers matching"
          update={update}
          remove={null}
          errorsAt={errorsAt}
        />
        {canPreview && (
          <div role="status" className="segment-live" aria-busy={previewing}>
            {waiting ? (
              <p>Give each condition a value to see who the segment would hold.</p>
            ) : previewError ? (
              <ErrorNote error={previewError} />
            ) : !preview ? (
              <p>Counting…</p>
            ) : preview.size == null ? (
              <p>Correct the marked conditions to see who the segment would hold.</p>
            ) : (
              <>
                <p data-field="live-size">
                  Matches now: {preview.size} {preview.size === 1 ? "customer" : "customers"}
                </p>
                {preview.preview.length > 0 && (
                  <ul aria-label="Matching now" className="segment-matching">
                    {preview.preview.map((c) => (
                      <li key={c.id}>
                        <a href={customerHref(c.id)}>{c.name}</a>
                      </li>
                    ))}
                  </ul>
                )}
              </>
            )}
          </div>
        )}
        <p>
          <button type="submit" disabled={fetching}>
            Create segment
          </button>
        </p>
      </form>
      {created && (
        <div role="status" className="segment-created">
          <p data-field="segment-size">
            {created.name}: {created.size} {created.size === 1 ? "customer" : "customers"}
          </p>
          {created.preview.length > 0 && (
            <ul aria-label="First members" className="segment-preview">
              {created.preview.map((c) => (
                <li key={c.id}>
                  <a href={customerHref(c.id)}>{c.name}</a>
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </section>
  );
}

type Update = (id: number, change: (node: Node) => Node) => void;

function GroupView(props: {
  group: Group;
  label: string;
  update: Update;
  remove: ((id: number) => void) | null;
  errorsAt: (id: number) => UserError[];
}) {
  const { group, update } = props;
  const add = (node: Node) =>
    update(group.id, (g) => ({ ...(g as Group), children: [...(g as Group).children, node] }));
  return (
    <fieldset className="segment-group" data-node={group.id}>
      <legend>{props.label}</legend>
      <NodeErrors errors={props.errorsAt(group.id)} id={group.id} />
      <p className="segment-controls">
        <label>
          <input
            type="checkbox"
            checked={group.not}
            onChange={(event) => update(group.id, (g) => ({ ...g, not: event.target.checked }))}
          />
          NOT
        </label>
        <label>
          Join with{" "}
          <select
            value={group.join}
            onChange={(event) =>
              update(group.id, (g) => ({ ...(g as Group), join: event.target.value as "and" | "or" }))
            }
          >
            <option value="and">AND (all of)</option>
            <option value="or">OR (any of)</option>
          </select>
        </label>
        {props.remove && (
          <button type="button" onClick={() => props.remove?.(group.id)}>
            Remove group
          </button>
        )}
      </p>
      <ol className="segment-children">
        {group.children.map((child, index) => (
          <li key={child.id}>
            {child.type === "group" ? (
              <GroupView
                group={child}
                label={`Group ${index + 1}`}
                update={update}
                remove={(id) =>
                  update(group.id, (g) => ({
                    ...(g as Group),
                    children: (g as Group).children.filter((c) => c.id !== id),
                  }))
                }
                errorsAt={props.errorsAt}
              />
            ) : (
              <ConditionView
                condition={child}
                label={`${props.label}: condition ${index + 1}`}
                update={update}
                remove={() =>
                  update(group.id, (g) => ({
                    ...(g as Group),
                    children: (g as Group).children.filter((c) => c.id !== child.id),
                  }))
                }
                errors={props.errorsAt(child.id)}
              />
            )}
          </li>
        ))}
      </ol>
      <p className="segment-controls">
        <button type="button" onClick={() => add(newCondition())}>
          Add condition to {props.label}
        </button>
        <button type="button" onClick={() => add(newGroup("or"))}>
          Add group to {props.label}
        </button>
      </p>
    </fieldset>
  );
}

function ConditionView(props: {
  condition: Condition;
  label: string;
  update: Update;
  remove: () => void;
  errors: UserError[];
}) {
  const { condition: c, update } = props;
  const kind = kindOf(c.field);
  const set = (change: Partial<Condition>) =>
    update(c.id, (node) => ({ ...(node as Condition), ...change }));
  const at = (part: string) => props.errors.filter((e) => e.field[e.field.length - 1] === part);
  const other = props.errors.filter(
    (e) => !["field", "operator", "value", "days"].includes(e.field[e.field.length - 1]),
  );
  const spec = FIELDS.find((f) => f.name === c.field);
  const control = (part: string) => ({
    id: `condition-${c.id}-${part}`,
    "aria-invalid": at(part).length > 0,
    "aria-describedby": at(part).length ? `condition-${c.id}-${part}-error` : undefined,
  });
  return (
    <fieldset className="segment-condition" data-node={c.id}>
      <legend>{props.label}</legend>
      <NodeErrors errors={other} id={c.id} />
      <label>
        <input type="checkbox" checked={c.not} onChange={(e) => set({ not: e.target.checked })} />
        NOT
      </label>
      <label htmlFor={`condition-${c.id}-field`}>Field</label>
      <select
        {...control("field")}
        value={c.field}
        onChange={(e) => {
          const operators = OPERATORS[kindOf(e.target.value)];
          set({ field: e.target.value, operator: operators.includes(c.operator) ? c.operator : operators[0] });
        }}
      >
        {FIELDS.map((f) => (
          <option key={f.name} value={f.name}>
            {f.label}
          </option>
        ))}
      </select>
      <PartError id={c.id} part="field" errors={at("field")} />
      <label htmlFor={`condition-${c.id}-operator`}>Operator</label>
      <select {...control("operator")} value={c.operator} onChange={(e) => set({ operator: e.target.value })}>
        {OPERATORS[kind].map((op) => (
          <option key={op}>{op}</option>
        ))}
      </select>
      <PartError id={c.id} part="operator" errors={at("operator")} />
      {!NO_VALUE.has(c.operator) && (
        <>
          <label htmlFor={`condition-${c.id}-value`}>
            Value{LISTS.has(c.operator) ? " (comma separated)" : ""}
          </label>
          <input {...control("value")} value={c.value} onChange={(e) => set({ value: e.target.value })} />
          <PartError id={c.id} part="value" errors={at("value")} />
        </>
      )}
      {spec?.aggregate && (
        <>
          <label htmlFor={`condition-${c.id}-days`}>In the last N days</label>
          <input
            {...control("days")}
            inputMode="numeric"
            value={c.days}
            onChange={(e) => set({ days: e.target.value })}
          />
          <PartError id={c.id} part="days" errors={at("days")} />
        </>
      )}
      <button type="button" onClick={props.remove}>
        Remove condition
      </button>
    </fieldset>
  );
}

function PartError({ id, part, errors }: { id: number; part: string; errors: UserError[] }) {
  if (!errors.length) return null;
  return (
    <span id={`condition-${id}-${part}-error`} className="field-error" data-error-at={part}>
      {errors.map((e) => e.message).join(" ")}
    </span>
  );
}

function NodeErrors({ errors, id }: { errors: UserError[]; id: number }) {
  if (!errors.length) return null;
  return (
    <p className="field-error" data-error-at={`node-${id}`}>
      {errors.map((e) => e.message).join(" ")}
    </p>
  );
}
