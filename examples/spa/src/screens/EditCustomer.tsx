import { useState } from "react";
import { useMutation, useQuery } from "urql";
import { type CustomerValues, CustomerForm, type UserError, changes } from "../customerForm";
import { ErrorNote } from "../errors";
import { graphql } from "../gql";
import { useCan } from "../permissions";
import { customerHref } from "../route";

const EditCustomerQuery = graphql(`
  query EditCustomer($id: ID!) {
    customer(id: $id) {
      id
      name
      email
      phone
      company
      lifecycleStage
      tags
      version
    }
  }
`);

const UpdateCustomer = graphql(`
  mutation UpdateCustomer($input: UpdateCustomerInput!) {
    updateCustomer(input: $input) {
      customer {
        id
        version
      }
      errors {
        code
        message
        field
      }
    }
  }
`);

/** Changes one customer. Only the fields changed are sent, with the version the form started
 * from as `expectedVersion`: when someone else changed the customer meanwhile, the API answers
 * CONFLICT and the caller may reload the newest version (dropping their edits) or keep editing. */
export default function EditCustomer({ id }: { id: string }) {
  const canSeePersonal = useCan("pii:read");
  const [{ data, error }, reload] = useQuery({
    query: EditCustomerQuery,
    variables: { id },
    requestPolicy: "network-only",
  });
  const [{ fetching, error: writeError }, update] = useMutation(UpdateCustomer);
  const [errors, setErrors] = useState<UserError[]>([]);
  if (error) return <ErrorNote error={error} />;
  if (!data) return <p>Loading…</p>;
  const customer = data.customer;
  if (!customer) return <p role="alert">No customer has this id.</p>;
  const initial: CustomerValues = {
    name: customer.name,
    email: customer.email ?? "",
    phone: customer.phone ?? "",
    company: customer.company ?? "",
    lifecycleStage: customer.lifecycleStage,
    tags: customer.tags.join(", "),
  };
  const conflict = errors.some((e) => e.code === "CONFLICT");

  async function submit(values: CustomerValues) {
    const input = { id, expectedVersion: customer!.version, ...changes(initial, values) };
    const result = await update({ input });
    const payload = result.data?.updateCustomer;
    if (!payload) return;
    setErrors(payload.errors);
    if (payload.customer) window.location.hash = customerHref(id);
  }

  function reloadNewest() {
    setErrors([]);
    reload({ requestPolicy: "network-only" });
  }

  return (
    <section aria-labelledby="edit-customer-title">
      <p>
        <a href={customerHref(id)}>← {customer.name}</a>
      </p>
      <h1 id="edit-customer-title">Edit {customer.name}</h1>
      {writeError && <ErrorNote error={writeError} />}
      {conflict && (
        <div role="alert" className="conflict">
          <p>
            Someone else changed this customer after you opened it (you started from version{" "}
            {customer.version}). Nothing was saved.
          </p>
          <button type="button" onClick={reloadNewest}>
            Reload the newest version
          </button>
        </div>
      )}
      {/* A new version gives the form new starting values (and a new expectedVersion). */}
      <CustomerForm
        key={customer.version}
        initial={initial}
        errors={errors.filter((e) => e.code !== "CONFLICT")}
        busy={fetching}
        canSeePersonal={canSeePersonal}
        submitLabel="Save changes"
        onSubmit={submit}
      />
    </section>
  );
}
