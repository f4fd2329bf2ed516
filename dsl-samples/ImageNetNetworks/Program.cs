using System;
using DenseGen.Model;
using Samples.ImageNet;

// Prints the summary of the ImageNet DenseNets (densenet-121, densenet-264; no argument prints both).
string which = args.Length > 0 ? args[0].ToLowerInvariant() : "all";
if (which is "all" or "densenet-121") Print<DenseNet121>();
if (which is "all" or "densenet-264") Print<DenseNet264>();
if (which is not ("all" or "densenet-121" or "densenet-264"))
{
    Console.Error.WriteLine($"Unknown network '{args[0]}'; use densenet-121 or densenet-264.");
    return 2;
}
return 0;

static void Print<TModel>() where TModel : IDenseNetModel => Console.WriteLine(TModel.Description.Summary());
