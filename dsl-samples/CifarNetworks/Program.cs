using System;
using DenseGen.Model;
using Samples.Cifar;

// Prints the summary of the paper's CIFAR networks, as the generator planned them at compile time.
// Pass a name (densenet-40, densenet-bc-100) to print one; no argument prints both.
string which = args.Length > 0 ? args[0].ToLowerInvariant() : "all";
if (which is "all" or "densenet-40") Print<DenseNet40>();
if (which is "all" or "densenet-bc-100") Print<DenseNetBC100>();
if (which is not ("all" or "densenet-40" or "densenet-bc-100"))
{
    Console.Error.WriteLine($"Unknown network '{args[0]}'; use densenet-40 or densenet-bc-100.");
    return 2;
}
return 0;

static void Print<TModel>() where TModel : IDenseNetModel => Console.WriteLine(TModel.Description.Summary());
